// Opaque page tokens: base64url JSON bound to the listing they continue.
import { invalidArgument } from '../errors/domain-error.js';

export const DEFAULT_PAGE_SIZE = 1000;
export const MAX_PAGE_SIZE = 10_000;

export function pageSize(requested: number, fallback = DEFAULT_PAGE_SIZE, field = 'page_size'): number {
  if (requested < 0) throw invalidArgument('PAGE_SIZE_INVALID', `${field} must not be negative`);
  return Math.min(requested || fallback, MAX_PAGE_SIZE);
}

export function encodePageToken(scope: string, position: unknown): string {
  return Buffer.from(JSON.stringify({ s: scope, p: position })).toString('base64url');
}

/** Returns the position stored in the token, or null for an empty token. */
export function decodePageToken<T>(token: string, scope: string): T | null {
  if (!token) return null;
  let parsed: { s?: unknown; p?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument('PAGE_TOKEN_INVALID', 'page_token is not one this service issued; pass next_page_token unchanged or start over with an empty token');
  }
  if (parsed?.s !== scope || parsed.p === undefined) {
    throw invalidArgument('PAGE_TOKEN_INVALID', 'page_token belongs to another listing or request; start over with an empty token');
  }
  return parsed.p as T;
}
