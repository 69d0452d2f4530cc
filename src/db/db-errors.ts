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
  if (RACE_CODES.has(code)) {
    return new FilestoreError('ABORTED', 'CONCURRENT_UPDATE', 'a concurrent command changed the same nodes; re-read them and retry', {}, { cause: err });
  }
  return null;
}
