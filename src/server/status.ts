// The one place where domain errors become gRPC statuses, with a google.rpc.ErrorInfo
// (reason, domain, metadata) in the standard grpc-status-details-bin trailer.
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ErrorInfo } from '../../gen/google/rpc/error_details.js';
import { Status as RpcStatus } from '../../gen/google/rpc/status.js';
import { databaseErrorToDomain } from '../db/db-errors.js';
import { FilestoreError, isFilestoreError, type ErrorCode } from '../errors/domain-error.js';

export const ERROR_DOMAIN = 'filestore.v1';

const CODES: Record<ErrorCode, Status> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  ABORTED: Status.ABORTED,
  OUT_OF_RANGE: Status.OUT_OF_RANGE,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: Status.UNAVAILABLE,
  UNIMPLEMENTED: Status.UNIMPLEMENTED,
  INTERNAL: Status.INTERNAL,
};

export function toDomainError(err: unknown): FilestoreError | null {
  return isFilestoreError(err) ? err : databaseErrorToDomain(err);
}

export function toServiceError(err: unknown, log: Logger): Partial<ServiceError> {
  const domain = toDomainError(err);
  const e =
    domain ??
    new FilestoreError('INTERNAL', 'INTERNAL', 'internal error; the server log has the details');
  if (!domain) log.error({ err }, 'unexpected error');
  const info = ErrorInfo.encode({ reason: e.reason, domain: ERROR_DOMAIN, metadata: e.metadata }).finish();
  const details = RpcStatus.encode({
    code: CODES[e.code],
    message: e.message,
    details: [{ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from(info) }],
  }).finish();
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(details));
  return { code: CODES[e.code], details: e.message, message: e.message, metadata };
}
