import type { ExecutionContext } from 'ava';
import { FilestoreError } from '../../src/errors/domain-error.js';

/** A path of exactly `bytes` ASCII bytes made of 254-character segments. */
export function asciiPathOfBytes(bytes: number): string {
  let out = '';
  while (bytes - out.length > 255) out += 'a'.repeat(254) + '/';
  return out + 'b'.repeat(bytes - out.length);
}

// Raw characters that must never appear in a message.
// eslint-disable-next-line no-control-regex
export const RAW_UNSAFE = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFFFD]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function assertInvalid(
  t: ExecutionContext,
  fn: () => unknown,
  reason: string,
  messageIncludes?: string | RegExp,
): FilestoreError {
  const err = t.throws(fn, { instanceOf: FilestoreError });
  if (!err) throw new Error('no error');
  t.is(err.code, 'INVALID_ARGUMENT');
  t.is(err.reason, reason);
  t.false(RAW_UNSAFE.test(err.message), `raw control character in message: ${JSON.stringify(err.message)}`);
  if (typeof messageIncludes === 'string') t.true(err.message.includes(messageIncludes), err.message);
  else if (messageIncludes) t.regex(err.message, messageIncludes);
  return err;
}
