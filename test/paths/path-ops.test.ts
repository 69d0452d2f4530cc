import test from 'ava';
import {
  ancestorsOf,
  baseName,
  escapeLike,
  isSameOrDescendant,
  isStrictDescendant,
  joinPath,
  likePrefixPattern,
  parentOf,
  rebase,
} from '../../src/paths/index.js';
import { assertInvalid } from './helpers.js';

test('parentOf', (t) => {
  t.is(parentOf('a'), '');
  t.is(parentOf('a/b'), 'a');
  t.is(parentOf('a/b/c.txt'), 'a/b');
  assertInvalid(t, () => parentOf(''), 'PATH_INVALID', 'the backend root has no parent');
});

test('baseName', (t) => {
  t.is(baseName(''), '');
  t.is(baseName('a'), 'a');
  t.is(baseName('a/b/c.txt'), 'c.txt');
});

test('joinPath', (t) => {
  t.is(joinPath('', 'a'), 'a');
  t.is(joinPath('a', 'b'), 'a/b');
  t.is(joinPath('a/b', 'c'), 'a/b/c');
  assertInvalid(t, () => joinPath('a', ''), 'PATH_INVALID');
  assertInvalid(t, () => joinPath('a', 'b/c'), 'PATH_INVALID');
});

test('ancestorsOf', (t) => {
  t.deepEqual(ancestorsOf(''), []);
  t.deepEqual(ancestorsOf('a'), ['']);
  t.deepEqual(ancestorsOf('a/b/c'), ['', 'a', 'a/b']);
});

test('isSameOrDescendant', (t) => {
  t.true(isSameOrDescendant('a/b', 'a/b'));
  t.true(isSameOrDescendant('a/b/c', 'a/b'));
  t.true(isSameOrDescendant('a/b/c/d', 'a'));
  t.true(isSameOrDescendant('anything', ''));
  t.true(isSameOrDescendant('', ''));
  t.false(isSameOrDescendant('a/bc', 'a/b'));
  t.false(isSameOrDescendant('a/b', 'a/bc'));
  t.false(isSameOrDescendant('a', 'a/b'));
  t.false(isSameOrDescendant('', 'a'));
  t.false(isSameOrDescendant('ab', 'a'));
  t.false(isStrictDescendant('a', 'a'));
  t.true(isStrictDescendant('a/b', 'a'));
  t.true(isStrictDescendant('a', ''));
});

test('rebase', (t) => {
  t.is(rebase('a/b/c', 'a', 'x/y'), 'x/y/b/c');
  t.is(rebase('a/b', 'a/b', 'z'), 'z');
  t.is(rebase('a/b', 'a', ''), 'b');
  t.is(rebase('a/b', '', 'r'), 'r/a/b');
  t.is(rebase('a/b', '', ''), 'a/b');
  t.is(rebase('', '', 'r'), 'r');
  t.is(rebase('a', 'a', ''), '');
  assertInvalid(t, () => rebase('a/bc', 'a/b', 'x'), 'PATH_INVALID', 'not within');
});

test('likePrefixPattern and escapeLike', (t) => {
  t.is(likePrefixPattern(''), '%');
  t.is(likePrefixPattern('a'), 'a/%');
  t.is(likePrefixPattern('a_b'), 'a\\_b/%');
  t.is(likePrefixPattern('100%/x_y'), '100\\%/x\\_y/%');
  t.is(escapeLike('a\\b%c_d'), 'a\\\\b\\%c\\_d');
});

// A tiny LIKE matcher (escape character "\") to check the patterns' meaning.
function like(value: string, pattern: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') re += (pattern[++i] ?? '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else if (c === '%') re += '[\\s\\S]*';
    else if (c === '_') re += '[\\s\\S]';
    else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(re + '$', 'u').test(value);
}

test('likePrefixPattern matches exactly the strict descendants', (t) => {
  const paths = ['a_b', 'a_b/c', 'a_b/c/d', 'axb', 'axb/c', 'a_bc', 'a_bc/d', 'a', '100%', '100%/x', '1000/x'];
  for (const anc of ['a_b', 'axb', 'a', '100%']) {
    for (const p of paths) {
      t.is(like(p, likePrefixPattern(anc)), isStrictDescendant(p, anc), `${p} under ${anc}`);
    }
  }
  for (const p of paths) t.true(like(p, likePrefixPattern('')));
});
