// Turns errno failures of the local backend into the backends' domain errors (../errors.ts).
import { failedPrecondition, invalidArgument, isFilestoreError, permissionDenied, resourceExhausted } from '../../errors/domain-error.js';
import { describe, errnoOf, kindMismatch, meta, notEmpty, pathEscapes, pathExists, pathMissing, type Subject } from '../errors.js';

export * from '../errors.js';

/** Maps an errno error to a domain error; domain errors and unknown failures pass through unchanged. */
export function fsError(err: unknown, s: Subject): unknown {
  if (isFilestoreError(err)) return err;
  switch (errnoOf(err)) {
    case 'ENOENT':
      return pathMissing(s);
    case 'ENOSPC':
    case 'EDQUOT':
      return resourceExhausted('BACKEND_FULL', `backend ${s.backendId} is out of disk space or quota while writing ${describe(s)}; free space, then retry.`, meta(s));
    case 'ENOTDIR':
    case 'EISDIR':
      return kindMismatch(s);
    case 'EEXIST':
      return pathExists(s);
    case 'ENOTEMPTY':
      return notEmpty(s);
    case 'ELOOP':
      return pathEscapes(s);
    case 'EACCES':
    case 'EPERM':
      return permissionDenied('BACKEND_ACCESS_DENIED', `the service has no OS permission for ${describe(s)}; fix the owner or mode of the backend directory.`, meta(s));
    case 'EROFS':
      return failedPrecondition('BACKEND_READ_ONLY', `backend ${s.backendId} is on a read-only file system (writing ${describe(s)}); remount it read-write.`, meta(s));
    case 'ENAMETOOLONG':
      return invalidArgument('PATH_TOO_LONG', `${describe(s)} is too long for the local file system; use a shorter name.`, meta(s));
    default:
      return err;
  }
}
