// A full recompute of a subtree's rollups from its nodes, for drift repair or on an operator's request.
import type { Database } from '../db/database.js';
import { appendEvents } from '../db/events-repo.js';
import { findLive } from '../db/nodes-repo.js';
import { dirsWithRollups, lockFolds, recomputeSubtree } from '../db/rollups-repo.js';
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

export async function recomputeRollups(db: Database, commits: CommitListener, backendId: number, path: string): Promise<RecomputeReport> {
  const started = performance.now();
  const { dirs, corrected, cursor } = await db.transaction(async (tx) => {
    await lockFolds(tx, backendId);
    const root = await findLive(tx, backendId, path);
    if (!root) throw new TerminalJobError(`no live node at "${path}" on backend ${backendId}: nothing to recompute`);
    if (root.kind !== 'DIRECTORY') throw new TerminalJobError(`"${path}" on backend ${backendId} is a file; only directories have rollups`);
    const result = await recomputeSubtree(tx, root);
    const changed = await dirsWithRollups(tx, backendId, result.changedIds);
    const last = await appendEvents(tx, changed.map((d) => rollupUpdated(d.node, d.rollup)), WORKER_ORIGIN);
    return { dirs: result.dirs, corrected: changed.length, cursor: last };
  });
  if (cursor !== null) commits.committed(cursor);
  return { dirs, corrected, ms: performance.now() - started };
}
