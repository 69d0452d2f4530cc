// Rollup arithmetic, free of I/O: what a node adds to its parent's rollup, and how a change moves it.
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

export function subtract(a: Delta, b: Delta): Delta {
  return { sizeBytes: a.sizeBytes - b.sizeBytes, fileCount: a.fileCount - b.fileCount, dirCount: a.dirCount - b.dirCount };
}

export function isZero(d: Delta): boolean {
  return d.sizeBytes === 0 && d.fileCount === 0 && d.dirCount === 0;
}
