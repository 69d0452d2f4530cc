// Path validation (docs/architecture.md, Invariants 7). Pure: no I/O.
//
// A valid path is relative, "/"-separated, has no empty, "." or ".." segment,
// no "\", control (Cc), bidi override/isolate, U+FFFD or lone surrogate
// character, is in Unicode NFC, fits the byte limits, and does not start with
// the service's reserved staging directory. The backend root is "".

import { invalidArgument, type FilestoreError } from '../errors/domain-error.js';
import { codePointLabel, quote } from './escape.js';

export interface PathLimits {
  /** Maximum UTF-8 length of the whole path. */
  maxPathBytes?: number;
  /** Maximum UTF-8 length of one segment (a name). */
  maxNameBytes?: number;
}

export const DEFAULT_LIMITS = Object.freeze({ maxPathBytes: 4096, maxNameBytes: 255 });
export const S3_LIMITS = Object.freeze({ maxPathBytes: 1024, maxNameBytes: 255 });

/** Top-level name reserved for the service's own staging area. */
export const RESERVED_TOP_LEVEL_NAME = '.filestore';

export const PATH_INVALID = 'PATH_INVALID';
export const PATH_RESERVED = 'PATH_RESERVED';

/** UTF-8 length of a string without lone surrogates. */
export function utf8ByteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u < 0x80) n += 1;
    else if (u < 0x800) n += 2;
    else if (u >= 0xd800 && u <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

// Any character that may need a closer look: the forbidden ones plus all
// surrogates (pairs are fine, lone ones are not). Without the `u` flag so that
// it sees code units.
// eslint-disable-next-line no-control-regex
const SUSPECT = /[\\\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFFFD\uD800-\uDFFF]/;
const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

function fail(rule: string, message: string, segment?: number): FilestoreError {
  const metadata: Record<string, string> = { rule };
  if (segment !== undefined) metadata.segment = String(segment);
  return invalidArgument(PATH_INVALID, message, metadata);
}

function segmentLabel(index: number, segment: string): string {
  return `path segment ${index} ${quote(segment)}`;
}

/** First forbidden character in a segment, or null. */
function checkCharacters(segment: string, index: number): FilestoreError | null {
  for (let i = 0; i < segment.length; i++) {
    const u = segment.charCodeAt(i);
    const where = segmentLabel(index, segment);
    if (u === 0x5c) {
      return fail(
        'backslash',
        `${where} contains a backslash "\\\\"; separate segments with "/" and remove backslashes from names`,
        index,
      );
    }
    if (u <= 0x1f || (u >= 0x7f && u <= 0x9f)) {
      return fail('control-character', `${where} contains control character ${codePointLabel(u)}; remove it`, index);
    }
    if ((u >= 0x202a && u <= 0x202e) || (u >= 0x2066 && u <= 0x2069)) {
      return fail(
        'bidi-control',
        `${where} contains bidirectional override/isolate character ${codePointLabel(u)}; remove it`,
        index,
      );
    }
    if (u === 0xfffd) {
      return fail(
        'invalid-utf8',
        `${where} contains invalid UTF-8 (U+FFFD, the replacement character); send the path as valid UTF-8`,
        index,
      );
    }
    if (u >= 0xd800 && u <= 0xdbff) {
      const next = i + 1 < segment.length ? segment.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return fail(
        'lone-surrogate',
        `${where} contains lone surrogate ${codePointLabel(u)}, which is not valid Unicode; send the path as valid UTF-8`,
        index,
      );
    }
    if (u >= 0xdc00 && u <= 0xdfff) {
      return fail(
        'lone-surrogate',
        `${where} contains lone surrogate ${codePointLabel(u)}, which is not valid Unicode; send the path as valid UTF-8`,
        index,
      );
    }
  }
  return null;
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Return `raw` unchanged when it is a valid path, else throw a FilestoreError
 * INVALID_ARGUMENT with reason PATH_INVALID (or PATH_RESERVED for the
 * staging area) and a message naming the rule and what to fix.
 */
export function validatePath(raw: string, limits?: PathLimits): string {
  if (typeof raw !== 'string') {
    throw fail('type', `path must be a string, got ${raw === null ? 'null' : typeof raw}`);
  }
  if (raw === '') return raw;

  const maxPathBytes = positiveInt(limits?.maxPathBytes, DEFAULT_LIMITS.maxPathBytes, 'maxPathBytes');
  const maxNameBytes = positiveInt(limits?.maxNameBytes, DEFAULT_LIMITS.maxNameBytes, 'maxNameBytes');

  if (raw.charCodeAt(0) === 0x2f) {
    throw fail(
      'absolute',
      `path ${quote(raw)} is absolute (starts with "/"); paths are relative to the backend root, so remove the leading "/" (the root itself is "")`,
    );
  }
  if (raw.charCodeAt(raw.length - 1) === 0x2f) {
    throw fail('trailing-slash', `path ${quote(raw)} ends with "/"; remove the trailing "/"`);
  }

  const ascii = PRINTABLE_ASCII.test(raw);
  const suspect = !ascii && SUSPECT.test(raw);
  const segments = raw.split('/');

  for (let k = 0; k < segments.length; k++) {
    const segment = segments[k]!;
    const index = k + 1;
    if (segment === '') {
      throw fail(
        'empty-segment',
        `path ${quote(raw)} has an empty segment ${index} (two "/" in a row); remove the extra "/"`,
        index,
      );
    }
    if (segment === '.' || segment === '..') {
      throw fail(
        'dot-segment',
        `${segmentLabel(index, segment)} is not allowed: "." and ".." segments are refused; send the normalised path without them`,
        index,
      );
    }
    if (ascii) {
      if (segment.indexOf('\\') !== -1) {
        throw checkCharacters(segment, index)!;
      }
      if (segment.length > maxNameBytes) {
        throw nameTooLong(segment, index, segment.length, maxNameBytes);
      }
      continue;
    }
    if (suspect) {
      const err = checkCharacters(segment, index);
      if (err) throw err;
    }
    if (segment.normalize('NFC') !== segment) {
      throw fail(
        'not-nfc',
        `${segmentLabel(index, segment)} is not in Unicode normalisation form NFC; normalise the path to NFC (e.g. String.prototype.normalize('NFC')) before sending it`,
        index,
      );
    }
    const bytes = utf8ByteLength(segment);
    if (bytes > maxNameBytes) throw nameTooLong(segment, index, bytes, maxNameBytes);
  }

  // Per-segment NFC implies whole-path NFC ("/" never composes), but keep the
  // whole-path check as the definition of the rule.
  if (!ascii && raw.normalize('NFC') !== raw) {
    throw fail(
      'not-nfc',
      `path ${quote(raw)} is not in Unicode normalisation form NFC; normalise the path to NFC before sending it`,
    );
  }

  const pathBytes = ascii ? raw.length : utf8ByteLength(raw);
  if (pathBytes > maxPathBytes) {
    throw fail(
      'path-too-long',
      `path ${quote(raw)} is ${pathBytes} bytes in UTF-8, over the ${maxPathBytes}-byte limit for a path on this backend; shorten it`,
    );
  }

  // Case-insensitive so that a case-insensitive file system (macOS, Windows)
  // cannot reach the staging area through ".Filestore".
  const first = segments[0]!;
  if (first.length === RESERVED_TOP_LEVEL_NAME.length && first.toLowerCase() === RESERVED_TOP_LEVEL_NAME) {
    throw invalidArgument(
      PATH_RESERVED,
      `${segmentLabel(1, first)} is reserved for the service's own staging area; choose another top-level name`,
      { rule: 'reserved', segment: '1' },
    );
  }

  return raw;
}

function nameTooLong(segment: string, index: number, bytes: number, max: number): FilestoreError {
  return fail(
    'name-too-long',
    `${segmentLabel(index, segment)} is ${bytes} bytes in UTF-8, over the ${max}-byte limit for a name; shorten it`,
    index,
  );
}

/** True when `raw` is a valid path under `limits`. */
export function isValidPath(raw: string, limits?: PathLimits): boolean {
  try {
    validatePath(raw, limits);
    return true;
  } catch {
    return false;
  }
}
