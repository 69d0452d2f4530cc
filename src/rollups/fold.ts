// Folding: a backend's unfolded deltas, in batches, each in one transaction that applies them to
// their directories and carries them up to the root. A crash mid-batch rolls the whole batch back.
import type { Database, Executor } from '../db/database.js';
import { appendEvents } from '../db/events-repo.js';
import { applyDeltas, claimDeltas, dirsWithRollups, lockFolds } from '../db/rollups-repo.js';
import { crashPoint } from '../commands/crash-points.js';
import type { CommitListener } from '../commands/services.js';
import { rollupUpdated } from '../events/change-events.js';
import { add, carryToParents, isZero, sumByKey, ZERO, type Delta } from './delta.js';

export const WORKER_ORIGIN = { journalId: null, command: null, principal: 'filestore:rollup-worker' };

export interface FoldReport {
  deltas: number;
  batches: number;
  /** Directories whose rollup changed (each reported by one filestore.rollup.updated per batch). */
  dirsChanged: number;
}

/** Folds until no delta is left (as of the last batch). */
export async function foldBackend(db: Database, commits: CommitListener, backendId: number, batchSize: number): Promise<FoldReport> {
  const report: FoldReport = { deltas: 0, batches: 0, dirsChanged: 0 };
  for (;;) {
    const batch = await db.transaction((tx) => foldBatch(tx, backendId, batchSize));
    if (batch.cursor !== null) commits.committed(batch.cursor);
    report.deltas += batch.deltas;
    report.batches += batch.deltas ? 1 : 0;
    report.dirsChanged += batch.dirsChanged;
    if (batch.deltas < batchSize) return report;
  }
}

async function foldBatch(tx: Executor, backendId: number, limit: number) {
  await lockFolds(tx, backendId);
  const claimed = await claimDeltas(tx, backendId, limit);
  const net = new Map<number, Delta>();
  let level = sumByKey(claimed.byDir);
  for (let depth = 0; level.size; depth++) {
    const parents = await applyDeltas(tx, backendId, level);
    for (const dirId of parents.keys()) net.set(dirId, add(net.get(dirId) ?? ZERO, level.get(dirId)!));
    if (depth === 0) crashPoint('rollup:fold-mid-batch');
    level = carryToParents(new Map([...level].filter(([dirId]) => parents.has(dirId))), parents);
  }
  const changed = [...net].filter(([, d]) => !isZero(d)).map(([dirId]) => dirId);
  const dirs = await dirsWithRollups(tx, backendId, changed);
  const cursor = await appendEvents(tx, dirs.map((d) => rollupUpdated(d.node, d.rollup)), WORKER_ORIGIN);
  return { deltas: claimed.rows, dirsChanged: dirs.length, cursor };
}
