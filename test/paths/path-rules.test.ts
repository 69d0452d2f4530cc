import test from 'ava';
import { S3_LIMITS, validatePath, isValidPath, utf8ByteLength, type PathLimits } from '../../src/paths/index.js';
import { asciiPathOfBytes, assertInvalid } from './helpers.js';

type Bad = [label: string, path: string, reason: 'PATH_INVALID' | 'PATH_RESERVED', hint?: string | RegExp];

const long255 = 'n'.repeat(255);
// 16 segments of 127 two-byte chars + '/' (4080 bytes), then 17 more bytes.
const multiBytePath4097 = `${'\u00e9'.repeat(127)}/`.repeat(16) + '\u00e9'.repeat(8) + 'a';

const BAD: Bad[] = [
  ['dot-dot', '..', 'PATH_INVALID', '".." segments'],
  ['dot', '.', 'PATH_INVALID', '"." and'],
  ['traversal in middle', 'a/../b', 'PATH_INVALID', 'path segment 2 ".."'],
  ['traversal at start', '../etc/passwd', 'PATH_INVALID', 'path segment 1 ".."'],
  ['traversal at end', 'a/b/..', 'PATH_INVALID', 'path segment 3'],
  ['leading dot segment', './a', 'PATH_INVALID', 'path segment 1 "."'],
  ['dot segment in middle', 'a/./b', 'PATH_INVALID', 'path segment 2 "."'],
  ['absolute', '/etc/passwd', 'PATH_INVALID', 'absolute'],
  ['root slash', '/', 'PATH_INVALID', 'absolute'],
  ['double leading slash', '//x', 'PATH_INVALID', 'absolute'],
  ['NUL', 'a/a\u0000b', 'PATH_INVALID', 'path segment 2 "a\\u0000b" contains control character U+0000; remove it'],
  ['newline', 'a\nb', 'PATH_INVALID', 'U+000A'],
  ['carriage return', 'x/y\r', 'PATH_INVALID', 'U+000D'],
  ['tab', 'a\tb', 'PATH_INVALID', 'U+0009'],
  ['escape', 'a\u001b[31m', 'PATH_INVALID', 'U+001B'],
  ['DEL', 'a\u007f', 'PATH_INVALID', 'U+007F'],
  ['NEL U+0085', 'a\u0085b', 'PATH_INVALID', 'U+0085'],
  ['C1 U+009F', '\u009f', 'PATH_INVALID', 'U+009F'],
  ['empty segment', 'a//b', 'PATH_INVALID', 'empty segment 2'],
  ['trailing slash', 'a/', 'PATH_INVALID', 'trailing'],
  ['trailing slash nested', 'a/b/', 'PATH_INVALID', 'trailing'],
  ['backslash', 'a\\b', 'PATH_INVALID', 'backslash'],
  ['backslash traversal', '..\\..\\windows', 'PATH_INVALID', 'backslash'],
  ['bidi RLO U+202E', 'invoice\u202Efdp.exe', 'PATH_INVALID', 'U+202E'],
  ['bidi LRE U+202A', 'x/\u202Ay', 'PATH_INVALID', 'U+202A'],
  ['bidi isolate U+2066', 'a\u2066b', 'PATH_INVALID', 'U+2066'],
  ['bidi isolate U+2069', '\u2069', 'PATH_INVALID', 'U+2069'],
  ['replacement char', 'caf\uFFFD', 'PATH_INVALID', 'invalid UTF-8 (U+FFFD'],
  ['non-NFC e + combining acute', 'e\u0301', 'PATH_INVALID', 'NFC'],
  ['non-NFC in second segment', 'dir/Cafe\u0301.txt', 'PATH_INVALID', /path segment 2 .* NFC/],
  ['non-NFC hangul jamo', '\u1100\u1161', 'PATH_INVALID', 'NFC'],
  ['non-NFC singleton (Angstrom sign)', '\u212B', 'PATH_INVALID', 'NFC'],
  ['lone high surrogate', 'a\uD800b', 'PATH_INVALID', 'lone surrogate U+D800'],
  ['lone low surrogate', '\uDC00', 'PATH_INVALID', 'lone surrogate U+DC00'],
  ['high surrogate at end', 'x/\uD83D', 'PATH_INVALID', 'lone surrogate'],
  ['256-byte ASCII name', 'n'.repeat(256), 'PATH_INVALID', '256 bytes'],
  ['256-byte name in the middle', `a/${'n'.repeat(256)}/b`, 'PATH_INVALID', 'path segment 2'],
  ['2-byte chars: 256 bytes', '\u00e9'.repeat(128), 'PATH_INVALID', '256 bytes'],
  ['3-byte chars: 258 bytes', '\u20ac'.repeat(86), 'PATH_INVALID', '258 bytes'],
  ['3-byte chars + 1: 256 bytes', '\u20ac'.repeat(85) + 'a', 'PATH_INVALID', '256 bytes'],
  ['4-byte chars: 256 bytes', '\u{1F600}'.repeat(64), 'PATH_INVALID', '256 bytes'],
  ['4097-byte path', asciiPathOfBytes(4097), 'PATH_INVALID', '4097 bytes'],
  ['4097-byte multi-byte path', multiBytePath4097, 'PATH_INVALID', '4097 bytes'],
  ['reserved staging dir', '.filestore', 'PATH_RESERVED', 'reserved'],
  ['inside reserved staging dir', '.filestore/x', 'PATH_RESERVED', 'reserved'],
  ['reserved, other case', '.FileStore/tmp', 'PATH_RESERVED', 'reserved'],
  ['absolute traversal', '/../x', 'PATH_INVALID', 'absolute'],
  ['only slashes', '///', 'PATH_INVALID'],
  ['empty last segment via double slash', `${long255}//`, 'PATH_INVALID'],
];

test('the malformed-path table has at least 35 entries', (t) => {
  t.true(BAD.length >= 35);
});

for (const [label, path, reason, hint] of BAD) {
  test(`refuses ${label}`, (t) => {
    assertInvalid(t, () => validatePath(path), reason, hint);
    t.false(isValidPath(path));
  });
}

test('the 4097-byte multi-byte fixture really is 4097 bytes', (t) => {
  const p = multiBytePath4097;
  t.is(utf8ByteLength(p), 4097);
  t.is(Buffer.byteLength(p, 'utf8'), 4097);
});

const GOOD: [label: string, path: string][] = [
  ['the root', ''],
  ['a top-level name', 'a'],
  ['nested with extension', 'a/b.c'],
  ['hidden file', '.hidden'],
  ['dots in names', '..a/a../...'],
  ['nested .filestore (only the top level is reserved)', 'a/.filestore'],
  ['a name that only starts like the reserved one', '.filestore2/x'],
  ['NFC unicode', 'caf\u00e9/\u65e5\u672c\u8a9e/\u0645\u0631\u062d\u0628\u0627'],
  ['emoji', 'photos/\u{1F600}.png'],
  ['Hangul syllable (NFC)', '\uAC00'],
  ['combining mark with no base (already NFC)', '\u0301x'],
  ['255-byte ASCII name', long255],
  ['255-byte 3-byte-char name', '\u20ac'.repeat(85)],
  ['255-byte 4-byte-char name', '\u{1F600}'.repeat(63) + 'abc'],
  ['4096-byte path', asciiPathOfBytes(4096)],
  ['spaces', 'my docs/a file .txt'],
  ['only a space', ' '],
  ['percent and underscore', '100%_done/a_b%c'],
  ['colon', 'C:/x:y'],
  ['other punctuation', "a-b+c=d,e;f'g!h@i#j$k&l(m)n[o]p{q}r~s`t"],
  ['zero-width joiner (not forbidden)', 'a\u200Db'],
];

for (const [label, path] of GOOD) {
  test(`accepts ${label}`, (t) => {
    t.is(validatePath(path), path);
    t.true(isValidPath(path));
  });
}

test('S3 limits: a 1025-byte path is refused, 1024 accepted', (t) => {
  const ok = asciiPathOfBytes(1024);
  const tooLong = asciiPathOfBytes(1025);
  t.is(validatePath(ok, S3_LIMITS), ok);
  assertInvalid(t, () => validatePath(tooLong, S3_LIMITS), 'PATH_INVALID', 'over the 1024-byte limit');
  t.is(validatePath(tooLong), tooLong);
});

test('S3 limits: multi-byte paths are counted in bytes', (t) => {
  const p = `${'\u20ac'.repeat(85)}/`.repeat(4) + 'a'.repeat(1025 - 4 * 256);
  t.is(Buffer.byteLength(p), 1025);
  assertInvalid(t, () => validatePath(p, S3_LIMITS), 'PATH_INVALID', '1025 bytes');
});

test('custom limits apply', (t) => {
  const limits: PathLimits = { maxNameBytes: 3, maxPathBytes: 7 };
  t.is(validatePath('abc/def', limits), 'abc/def');
  assertInvalid(t, () => validatePath('abcd', limits), 'PATH_INVALID', '3-byte limit');
  assertInvalid(t, () => validatePath('abc/de/f', limits), 'PATH_INVALID', '7-byte limit');
  t.throws(() => validatePath('a', { maxNameBytes: 0 }), { instanceOf: RangeError });
});

test('messages escape control characters and quote the segment index', (t) => {
  const err = assertInvalid(t, () => validatePath('ok/a\u0000b'), 'PATH_INVALID');
  t.is(err.message, 'path segment 2 "a\\u0000b" contains control character U+0000; remove it');
  t.is(err.metadata.rule, 'control-character');
  t.is(err.metadata.segment, '2');
});

test('messages escape bidi characters, lone surrogates and the replacement character', (t) => {
  for (const p of ['x\u202Ey', 'x\uD800', 'x\uFFFD', 'x\u2066', 'e\u0301\u0000']) {
    const err = assertInvalid(t, () => validatePath(p), 'PATH_INVALID');
    t.false(/[\u202E\uD800\uFFFD\u2066\u0000\u0301]/.test(err.message), err.message);
  }
});

test('NFC message tells the client to normalise', (t) => {
  assertInvalid(t, () => validatePath('e\u0301'), 'PATH_INVALID', /path segment 1 "e\\u0301" .*normalise the path to NFC/);
});

test('long offending values are truncated in messages', (t) => {
  const err = assertInvalid(t, () => validatePath('x'.repeat(5000)), 'PATH_INVALID', 'more characters');
  t.true(err.message.length < 400);
});

test('validatePath rejects non-strings with INVALID_ARGUMENT', (t) => {
  assertInvalid(t, () => validatePath(undefined as unknown as string), 'PATH_INVALID');
  assertInvalid(t, () => validatePath(42 as unknown as string), 'PATH_INVALID');
});
