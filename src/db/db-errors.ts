// What a database error means to a client. drizzle wraps driver errors (the SQLSTATE or errno is
// then on `cause`), so both levels are read.
import { FilestoreError } from '../errors/domain-error.js';

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);
/** Lost a race: unique violation against a concurrent writer, serialization failure, deadlock, lock timeout. */
const RACE_CODES = new Set(['23505', '40001', '40P01', '55P03']);

function codeOf(err: unknown): string | undefined {
  let lost = false;
  for (let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
    if (typeof e.message === 'string' && /Connection terminated|Client has encountered a connection error|connection timeout|timeout exceeded when trying to connect/i.test(e.message)) lost = true;
  }
  return lost ? 'ECONNRESET' : undefined;
}

/** The domain error a database failure amounts to, or null when it is a bug. */
export function databaseErrorToDomain(err: unknown): FilestoreError | null {
  const code = codeOf(err);
  if (!code) return null;
  if (CONNECTION_CODES.has(code)) {
    return new FilestoreError('UNAVAILABLE', 'DATABASE_UNAVAILABLE', `the database is unreachable (${code}); retry later`, {}, { cause: err });
  }
  if (isStalePreparedStatement(err)) {
    return new FilestoreError('UNAVAILABLE', 'SCHEMA_CHANGED', 'the database schema was migrated while this call ran; retry', {}, { cause: err });
  }
  if (RACE_CODES.has(code)) {
    return new FilestoreError('ABORTED', 'CONCURRENT_UPDATE', 'a concurrent command changed the same nodes; re-read them and retry', {}, { cause: err });
  }
  return null;
}

/** The statement waited longer than its lock_timeout (another transaction holds the row). */
export function isLockTimeout(err: unknown): boolean {
  return codeOf(err) === '55P03';
}

/** A named statement prepared before a migration changed the columns it returns. */
export function isStalePreparedStatement(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan must not change result type')) return true;
  }
  return false;
}
