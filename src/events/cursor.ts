// Cursors: the decimal string of a 64-bit integer, (transaction id << TX_SHIFT) + ordinal.
import { TX_SHIFT as TX_SHIFT_BITS } from '../db/events-repo.js';
import { invalidArgument } from '../errors/domain-error.js';

/** Bits left for the ordinal of an event within its transaction (the outbox assigns cursors). */
export const TX_SHIFT = BigInt(TX_SHIFT_BITS);
const MAX_CURSOR = (1n << 63n) - 1n;

/** Empty → null (from now); otherwise the cursor, or INVALID_ARGUMENT. */
export function parseCursor(text: string): bigint | null {
  if (text === '') return null;
  if (!/^\d{1,19}$/.test(text)) {
    throw invalidArgument('CURSOR_INVALID', `after_cursor "${text.slice(0, 40)}" is not a cursor: pass the decimal cursor of an event or heartbeat, or leave it empty to start from now`);
  }
  const cursor = BigInt(text);
  if (cursor > MAX_CURSOR) throw invalidArgument('CURSOR_INVALID', `after_cursor "${text}" is out of the 64-bit range; pass a cursor this service gave you`);
  return cursor;
}

export function formatCursor(cursor: bigint): string {
  return cursor.toString();
}
