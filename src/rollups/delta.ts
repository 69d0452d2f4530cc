// Rollup arithmetic, free of I/O: what a node adds to its parent's rollup, and sums of such changes.
import type { NodeKind, NodeState } from '../db/records.js';

/** A change to a rollup (or a rollup itself): bytes, files and directories below a directory. */
export interface Delta {
  sizeBytes: number;
  fileCount: number;
  dirCount: number;
}

export const ZERO: Delta = Object.freeze({ sizeBytes: 0, fileCount: 0, dirCount: 0 });

/** What one node adds to its parent's rollup by itself (a directory's own subtree comes on top). */
export function contribution(n: { kind: NodeKind; state: NodeState; sizeBytes: number }): Delta {
  if (n.state === 'DELETED') return ZERO;
  return n.kind === 'FILE' ? { sizeBytes: n.sizeBytes, fileCount: 1, dirCount: 0 } : { sizeBytes: 0, fileCount: 0, dirCount: 1 };
}

export function add(a: Delta, b: Delta): Delta {
  return { sizeBytes: a.sizeBytes + b.sizeBytes, fileCount: a.fileCount + b.fileCount, dirCount: a.dirCount + b.dirCount };
}

export function subtract(a: Delta, b: Delta): Delta {
  return { sizeBytes: a.sizeBytes - b.sizeBytes, fileCount: a.fileCount - b.fileCount, dirCount: a.dirCount - b.dirCount };
}

export function isZero(d: Delta): boolean {
  return d.sizeBytes === 0 && d.fileCount === 0 && d.dirCount === 0;
}

/** Sums deltas per key, dropping keys whose sum is zero. */
export function sumByKey<K>(entries: Iterable<[K, Delta]>): Map<K, Delta> {
  const sums = new Map<K, Delta>();
  for (const [key, d] of entries) sums.set(key, add(sums.get(key) ?? ZERO, d));
  for (const [key, d] of sums) if (isZero(d)) sums.delete(key);
  return sums;
}

/**
 * One level of folding: the deltas just applied to directories, carried to each one's parent.
 * Directories without a parent (backend roots) or no longer live carry nothing further.
 */
export function carryToParents(applied: Map<number, Delta>, parents: Map<number, number | null>): Map<number, Delta> {
  const carried: [number, Delta][] = [];
  for (const [dirId, d] of applied) {
    const parent = parents.get(dirId);
    if (parent !== undefined && parent !== null) carried.push([parent, d]);
  }
  return sumByKey(carried);
}
