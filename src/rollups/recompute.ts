// A full recompute of a subtree's rollups from its nodes, for drift repair or on an operator's request.
import type { Database } from '../db/database.js';
import { appendEvents } from '../db/events-repo.js';
import { findById, findLive } from '../db/nodes-repo.js';
import type { NodeRecord } from '../db/records.js';
import { dirsWithRollups, lockFolds, markStale, recomputeSubtree } from '../db/rollups-repo.js';
import type { CommitListener } from '../commands/services.js';
import { rollupUpdated } from '../events/change-events.js';
import { TerminalJobError } from '../jobs/queue.js';
import { WORKER_ORIGIN } from './fold.js';

export interface RecomputeReport {
  dirs: number;
  /** Directories whose rollup was wrong (or not yet folded) and now is right. */
  corrected: number;
  ms: number;
}

function requireDirectory(node: NodeRecord | null, what: string): NodeRecord {
  if (!node || node.state === 'DELETED') throw new TerminalJobError(`${what} is not a live node: nothing to recompute`);
  if (node.kind !== 'DIRECTORY') throw new TerminalJobError(`${what} is a file; only directories have rollups`);
  return node;
}

/** Marks the subtree at `path` STALE (under the fold lock); returns its root and how many directories it holds. */
export async function markSubtreeStale(db: Database, backendId: number, path: string): Promise<{ root: NodeRecord; dirs: number }> {
  return db.transaction(async (tx) => {
    await lockFolds(tx, backendId);
    const root = requireDirectory(await findLive(tx, backendId, path), `"${path}" on backend ${backendId}`);
    return { root, dirs: await markStale(tx, root) };
  });
}

/** Recomputes the subtree of directory `dirId` (by id: it may have moved since it was asked for). */
export async function recomputeRollups(db: Database, commits: CommitListener, backendId: number, dirId: number): Promise<RecomputeReport> {
  const started = performance.now();
  const { dirs, corrected, cursor } = await db.transaction(async (tx) => {
    await lockFolds(tx, backendId);
    const root = requireDirectory(await findById(tx, dirId), `node ${dirId}`);
    if (root.backendId !== backendId) throw new TerminalJobError(`directory ${dirId} is on backend ${root.backendId}, not ${backendId}`);
    const result = await recomputeSubtree(tx, root);
    const changed = await dirsWithRollups(tx, backendId, result.changedIds);
    const last = await appendEvents(tx, changed.map((d) => rollupUpdated(d.node, d.rollup)), WORKER_ORIGIN);
    return { dirs: result.dirs, corrected: result.corrected, cursor: last };
  });
  if (cursor !== null) commits.committed(cursor);
  return { dirs, corrected, ms: performance.now() - started };
}
