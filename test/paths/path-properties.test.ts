import test from 'ava';
import fc from 'fast-check';
import { FilestoreError } from '../../src/errors/domain-error.js';
import {
  S3_LIMITS,
  ancestorsOf,
  baseName,
  isSameOrDescendant,
  isValidPath,
  joinPath,
  likePrefixPattern,
  parentOf,
  rebase,
  validatePath,
} from '../../src/paths/index.js';
import { RAW_UNSAFE } from './helpers.js';

const NUM_RUNS = 500;

// Characters that exercise every rule: separators, dots, forbidden characters,
// combining marks, surrogates, LIKE metacharacters, multi-byte letters.
const trickyChar = fc.constantFrom(
  'a', 'b', 'Z', '0', ' ', '.', '/', '\\', '%', '_', ':', '-',
  '\u0000', '\n', '\u007f', '\u0085', '\u202e', '\u2066', '\ufffd',
  '\u0301', 'e', '\u00e9', '\u20ac', '\u{1F600}', '\uD800', '\uDC00', '\u212B', '\u1100', '\u1161',
);
const trickyString = fc.string({ unit: trickyChar, maxLength: 24 });

// Segments made of mostly-valid characters; the filter keeps only valid paths.
const segChar = fc.constantFrom('a', 'b', 'c', '.', ' ', '%', '_', ':', '-', '\u00e9', '\u65e5', '\u{1F600}', 'A');
const segment = fc.string({ unit: segChar, minLength: 1, maxLength: 8 });
const validNonRoot = fc
  .array(segment, { minLength: 1, maxLength: 6 })
  .map((segs) => segs.join('/'))
  .filter((p) => isValidPath(p));
const validPath = fc.oneof({ arbitrary: validNonRoot, weight: 9 }, { arbitrary: fc.constant(''), weight: 1 });

function checkOnlyInvalidArgument(s: string): void {
  for (const limits of [undefined, S3_LIMITS]) {
    try {
      validatePath(s, limits);
    } catch (err) {
      if (!(err instanceof FilestoreError)) throw err;
      if (err.code !== 'INVALID_ARGUMENT') throw err;
      if (err.reason !== 'PATH_INVALID' && err.reason !== 'PATH_RESERVED') throw err;
      if (RAW_UNSAFE.test(err.message)) throw new Error(`raw unsafe character in message ${JSON.stringify(err.message)}`);
    }
  }
}

test('arbitrary strings only ever produce INVALID_ARGUMENT FilestoreErrors', (t) => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => checkOnlyInvalidArgument(s)), {
    numRuns: NUM_RUNS,
  });
  fc.assert(fc.property(trickyString, (s) => checkOnlyInvalidArgument(s)), { numRuns: NUM_RUNS * 4 });
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (s) => checkOnlyInvalidArgument(s)), {
    numRuns: NUM_RUNS,
  });
  t.pass();
});

test('accepted strings are returned unchanged, have no empty/dot segments and re-validate', (t) => {
  fc.assert(
    fc.property(fc.oneof(trickyString, validPath), (s) => {
      if (!isValidPath(s)) return;
      if (validatePath(s) !== s) throw new Error('changed');
      if (validatePath(validatePath(s)) !== s) throw new Error('not idempotent');
      if (s === '') return;
      for (const seg of s.split('/')) {
        if (seg === '' || seg === '.' || seg === '..') throw new Error(`bad segment in ${JSON.stringify(s)}`);
      }
      if (s.normalize('NFC') !== s) throw new Error('not NFC');
      if (s.startsWith('/') || s.includes('\\')) throw new Error('absolute or backslash');
    }),
    { numRuns: NUM_RUNS * 4 },
  );
  t.pass();
});

test('joinPath(parentOf(p), baseName(p)) === p for valid non-root p', (t) => {
  fc.assert(
    fc.property(validNonRoot, (p) => joinPath(parentOf(p), baseName(p)) === p),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});

test('ancestorsOf(p) are all ancestors of p, ordered from the root to the parent', (t) => {
  fc.assert(
    fc.property(validPath, (p) => {
      const anc = ancestorsOf(p);
      if (!anc.every((a) => isSameOrDescendant(p, a) && a !== p)) return false;
      if (p === '') return anc.length === 0;
      if (anc[0] !== '' || anc[anc.length - 1] !== parentOf(p)) return false;
      for (let i = 1; i < anc.length; i++) if (parentOf(anc[i]!) !== anc[i - 1]) return false;
      return anc.length === p.split('/').length;
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});

test('sibling-prefix safety: p + suffix is not below p unless the suffix starts with "/"', (t) => {
  fc.assert(
    fc.property(validNonRoot, segment, (p, extra) => {
      const sibling = p + extra; // e.g. "a/b" + "c" = "a/bc"
      if (!isValidPath(sibling)) return true;
      return !isSameOrDescendant(sibling, p) && !isSameOrDescendant(p, sibling);
    }),
    { numRuns: NUM_RUNS },
  );
  fc.assert(
    fc.property(validNonRoot, segment, (p, child) => {
      if (child.includes('/')) return true;
      const c = joinPath(p, child);
      return isSameOrDescendant(c, p) && !isSameOrDescendant(p, c);
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});

test('rebase round-trips and keeps descendants below the new prefix', (t) => {
  fc.assert(
    fc.property(validPath, validPath, validPath, (from, below, to) => {
      const path = below === '' ? from : from === '' ? below : `${from}/${below}`;
      const moved = rebase(path, from, to);
      if (!isSameOrDescendant(moved, to)) return false;
      return rebase(moved, to, from) === path;
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});

test('likePrefixPattern has only escaped metacharacters besides the final "/%"', (t) => {
  fc.assert(
    fc.property(validNonRoot, (p) => {
      const pat = likePrefixPattern(p);
      if (!pat.endsWith('/%')) return false;
      const body = pat.slice(0, -2);
      // Unescape: every %, _ and \ must be preceded by a backslash.
      let out = '';
      for (let i = 0; i < body.length; i++) {
        const c = body[i]!;
        if (c === '\\') out += body[++i];
        else if (c === '%' || c === '_') return false;
        else out += c;
      }
      return out === p;
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});
