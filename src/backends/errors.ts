// The domain errors every backend raises: each message names the path (relative to the backend's
// root, never the server's absolute path or a bucket key) and what to do.
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  permissionDenied,
  type FilestoreError,
} from '../errors/domain-error.js';

export interface Subject {
  backendId: number;
  /** A path relative to the root, or a staging key when `staging` is set. */
  path: string;
  staging?: boolean;
}

export const describe = (s: Subject): string =>
  s.staging ? `staging object "${s.path}" on backend ${s.backendId}` : `path "${s.path}" on backend ${s.backendId}`;
export const meta = (s: Subject): Record<string, string> => ({ backendId: String(s.backendId), path: s.path });

export const errnoOf = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;

export const pathEscapes = (s: Subject): FilestoreError =>
  permissionDenied(
    'PATH_ESCAPES_ROOT',
    `${describe(s)} goes through a symbolic link; the local backend never follows symlinks, so it cannot leave its root. Replace the link with a real file or directory.`,
    meta(s),
  );

export const pathReserved = (s: Subject): FilestoreError =>
  permissionDenied('PATH_RESERVED', `${describe(s)} is inside .filestore, which the service reserves for its own staging area and intents; choose another name.`, meta(s));

export const pathMissing = (s: Subject): FilestoreError =>
  failedPrecondition(
    'BACKEND_PATH_MISSING',
    `${describe(s)} does not exist in the backend's storage; it was probably removed outside the service. Reconcile the node, then retry.`,
    meta(s),
  );

export const parentMissing = (s: Subject): FilestoreError =>
  failedPrecondition('BACKEND_PARENT_MISSING', `the parent directory of ${describe(s)} does not exist; create it first.`, meta(s));

export const pathExists = (s: Subject, detail = 'something already exists there'): FilestoreError =>
  alreadyExists('BACKEND_PATH_EXISTS', `${describe(s)}: ${detail}; remove it or choose another name.`, meta(s));

export const kindMismatch = (s: Subject, detail = 'it, or one of its parents, is a file where a directory is needed or the reverse'): FilestoreError =>
  failedPrecondition('BACKEND_KIND_MISMATCH', `${describe(s)}: ${detail}. Check the node kind and retry.`, meta(s));

export const notEmpty = (s: Subject): FilestoreError =>
  failedPrecondition('BACKEND_DIR_NOT_EMPTY', `${describe(s)} is a directory that is not empty; remove its contents first.`, meta(s));

export const rootNotAllowed = (s: Subject, op: string): FilestoreError =>
  invalidArgument('BACKEND_ROOT_NOT_ALLOWED', `cannot ${op} the root of backend ${s.backendId}; name a path below it.`, meta(s));

