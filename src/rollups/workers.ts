// The rollup workers of one process: fold and recompute jobs, and a sweep that asks for folds.
import type { Logger } from 'pino';
import type { CommitListener } from '../commands/services.js';
import type { Database } from '../db/database.js';
import { staleRoots } from '../db/rollups-repo.js';
import type { JobQueue } from '../jobs/queue.js';
import { foldBackend } from './fold.js';
import { recomputeRollups } from './recompute.js';
import { FOLD_JOB, RECOMPUTE_JOB, type FoldJob, type RecomputeJob, type RollupScheduler } from './scheduler.js';

export interface RollupWorkerOptions {
  db: Database;
  commits: CommitListener;
  queue: JobQueue;
  scheduler: RollupScheduler;
  backendIds: number[];
  batchSize: number;
  sweepMs: number;
  log: Logger;
}

export interface RollupWorkers {
  stop(): void;
}

export function startRollupWorkers(o: RollupWorkerOptions): RollupWorkers {
  o.queue.process<FoldJob>(FOLD_JOB, async ({ backendId }) => {
    const report = await foldBackend(o.db, o.commits, backendId, o.batchSize);
    if (report.deltas) o.log.debug({ backendId, ...report }, 'rollups folded');
  }, { concurrency: 2 });
  o.queue.process<RecomputeJob>(RECOMPUTE_JOB, async ({ backendId, dirId }) => {
    const report = await recomputeRollups(o.db, o.commits, backendId, dirId);
    o.log.info({ backendId, dirId, ...report }, 'rollups recomputed');
    o.scheduler.foldSoon(backendId); // the subtree root's correction travels up as a delta
  });
  // Deltas left by a previous run (or by the migration that introduced rollups), folds lost to a
  // Redis outage, and recomputes asked for whose job was lost: the STALE mark is the request.
  const sweep = () => {
    for (const backendId of o.backendIds) {
      o.scheduler.foldSoon(backendId);
      staleRoots(o.db, backendId, 100)
        .then((ids) => Promise.all(ids.map((id) => o.scheduler.recompute(backendId, id))))
        .catch((err) => o.log.warn({ err: String(err), backendId }, 'could not queue the recomputes of stale rollups'));
    }
  };
  sweep();
  const timer = setInterval(sweep, o.sweepMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
