// Rollup arithmetic without I/O: carrying per-directory deltas up level by level (what a fold does)
// gives every directory the sum of what changed in its whole subtree (fuzzed with fast-check).
import test from 'ava';
import fc from 'fast-check';
import { add, carryToParents, contribution, isZero, sumByKey, ZERO, type Delta } from '../../src/rollups/delta.js';

/** A random tree: node i > 0 has a parent among 0..i-1; node 0 is the root. */
const tree = fc.integer({ min: 1, max: 60 }).chain((n) =>
  fc.tuple(fc.constant(n), fc.array(fc.nat(), { minLength: n - 1, maxLength: n - 1 }).map((ps) => ps.map((p, i) => p % (i + 1)))),
);
const delta = fc.record({ sizeBytes: fc.integer({ min: -1e6, max: 1e6 }), fileCount: fc.integer({ min: -5, max: 5 }), dirCount: fc.integer({ min: -5, max: 5 }) });

test('folding level by level gives each directory the sum of the deltas in its subtree', (t) => {
  fc.assert(
    fc.property(tree, fc.array(fc.tuple(fc.nat(), delta), { maxLength: 40 }), ([n, parentList], raw) => {
      const parent = new Map<number, number | null>([[0, null], ...parentList.map((p, i) => [i + 1, p] as [number, number])]);
      const deltas = raw.map(([k, d]) => [k % n, d] as [number, Delta]);
      const folded = new Map<number, Delta>();
      let level = sumByKey(deltas);
      while (level.size) {
        for (const [dir, d] of level) folded.set(dir, add(folded.get(dir) ?? ZERO, d));
        level = carryToParents(level, parent);
      }
      for (let dir = 0; dir < n; dir++) {
        let expected = ZERO;
        for (const [k, d] of deltas) {
          for (let a: number | null = k; a !== null; a = parent.get(a)!) if (a === dir) expected = add(expected, d);
        }
        const got = folded.get(dir) ?? ZERO;
        if (JSON.stringify(got) !== JSON.stringify(expected)) return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('a node adds itself to its parent; a deleted node adds nothing', (t) => {
  t.deepEqual(contribution({ kind: 'FILE', state: 'ACTIVE', sizeBytes: 7 }), { sizeBytes: 7, fileCount: 1, dirCount: 0 });
  t.deepEqual(contribution({ kind: 'FILE', state: 'MISSING', sizeBytes: 7 }), { sizeBytes: 7, fileCount: 1, dirCount: 0 });
  t.deepEqual(contribution({ kind: 'DIRECTORY', state: 'ACTIVE', sizeBytes: 0 }), { sizeBytes: 0, fileCount: 0, dirCount: 1 });
  t.true(isZero(contribution({ kind: 'FILE', state: 'DELETED', sizeBytes: 7 })));
});

test('sums that cancel out are dropped, so a fold touches only directories that changed', (t) => {
  const sums = sumByKey<number>([
    [1, { sizeBytes: 5, fileCount: 1, dirCount: 0 }],
    [1, { sizeBytes: -5, fileCount: -1, dirCount: 0 }],
    [2, { sizeBytes: 1, fileCount: 0, dirCount: 0 }],
  ]);
  t.deepEqual([...sums.keys()], [2]);
});
