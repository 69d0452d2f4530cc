// Domain errors: thrown anywhere below the server, mapped to a gRPC status in
// exactly one place (src/server/status.ts). Each carries a machine-readable reason.

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

export class FilestoreError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly reason: string,
    message: string,
    readonly metadata: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FilestoreError';
  }

  toJSON(): { code: ErrorCode; reason: string; message: string } {
    return { code: this.code, reason: this.reason, message: this.message };
  }
}

type Factory = (reason: string, message: string, metadata?: Record<string, string>) => FilestoreError;
const make = (code: ErrorCode): Factory => (reason, message, metadata) => new FilestoreError(code, reason, message, metadata);

export const invalidArgument = make('INVALID_ARGUMENT');
export const notFound = make('NOT_FOUND');
export const alreadyExists = make('ALREADY_EXISTS');
export const failedPrecondition = make('FAILED_PRECONDITION');
export const aborted = make('ABORTED');
export const outOfRange = make('OUT_OF_RANGE');
export const permissionDenied = make('PERMISSION_DENIED');
export const unauthenticated = make('UNAUTHENTICATED');
export const resourceExhausted = make('RESOURCE_EXHAUSTED');
export const unavailable = make('UNAVAILABLE');
export const unimplemented = make('UNIMPLEMENTED');
export const internal = make('INTERNAL');

export function isFilestoreError(err: unknown): err is FilestoreError {
  return err instanceof FilestoreError;
}
