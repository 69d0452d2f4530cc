// Rollup arithmetic without I/O: what a node adds to its parent's rollup (fuzzed with fast-check).
import test from 'ava';
import fc from 'fast-check';
import { contribution, isZero, subtract, ZERO } from '../../src/rollups/delta.js';
import type { NodeKind, NodeState } from '../../src/db/records.js';

test('a node adds itself to its parent; a deleted node adds nothing', (t) => {
  t.deepEqual(contribution({ kind: 'FILE', state: 'ACTIVE', sizeBytes: 7 }), { sizeBytes: 7, fileCount: 1, dirCount: 0 });
  t.deepEqual(contribution({ kind: 'FILE', state: 'MISSING', sizeBytes: 7 }), { sizeBytes: 7, fileCount: 1, dirCount: 0 });
  t.deepEqual(contribution({ kind: 'DIRECTORY', state: 'ACTIVE', sizeBytes: 0 }), { sizeBytes: 0, fileCount: 0, dirCount: 1 });
  t.true(isZero(contribution({ kind: 'FILE', state: 'DELETED', sizeBytes: 7 })));
});

test('any live node counts once, as a file or a directory; only files carry bytes; a deleted one counts nothing', (t) => {
  const node = fc.record({
    kind: fc.constantFrom<NodeKind>('FILE', 'DIRECTORY'),
    state: fc.constantFrom<NodeState>('ACTIVE', 'INCONSISTENT', 'MISSING', 'DELETED'),
    sizeBytes: fc.nat(1e12),
  });
  fc.assert(
    fc.property(node, (n) => {
      const c = contribution(n);
      if (n.state === 'DELETED') return isZero(c);
      const counted = c.fileCount + c.dirCount === 1 && (n.kind === 'FILE' ? c.fileCount === 1 : c.dirCount === 1);
      return counted && c.sizeBytes === (n.kind === 'FILE' ? n.sizeBytes : 0);
    }),
    { numRuns: 1000 },
  );
  t.deepEqual(subtract(contribution({ kind: 'FILE', state: 'ACTIVE', sizeBytes: 10 }), contribution({ kind: 'FILE', state: 'ACTIVE', sizeBytes: 4 })), { ...ZERO, sizeBytes: 6 });
});
