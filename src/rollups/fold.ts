// Folding: a backend's unfolded deltas, in batches, each in one transaction that applies them to
// their directories and carries them up to the root (one statement, rollups-repo foldBatch), then
// writes the events. A crash mid-batch rolls the whole batch back.
import type { Database, Executor } from '../db/database.js';
import { appendEvents } from '../db/events-repo.js';
import { foldBatch, lockFolds } from '../db/rollups-repo.js';
import { crashPoint } from '../commands/crash-points.js';
import type { CommitListener } from '../commands/services.js';
import { rollupUpdated } from '../events/change-events.js';

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
    const batch = await db.transaction((tx) => foldOnce(tx, backendId, batchSize));
    if (batch.cursor !== null) commits.committed(batch.cursor);
    report.deltas += batch.deltas;
    report.batches += batch.deltas ? 1 : 0;
    report.dirsChanged += batch.dirsChanged;
    if (batch.deltas < batchSize) return report;
  }
}

async function foldOnce(tx: Executor, backendId: number, limit: number) {
  await lockFolds(tx, backendId);
  const batch = await foldBatch(tx, backendId, limit);
  crashPoint('rollup:fold-mid-batch');
  const cursor = await appendEvents(tx, batch.changed.map((d) => rollupUpdated(d.node, d.rollup)), WORKER_ORIGIN);
  return { deltas: batch.claimed, dirsChanged: batch.changed.length, cursor };
}
