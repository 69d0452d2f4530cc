// Asks for folds after commits: at most two fold jobs per backend per fold delay from one process,
// however many writes commit, so the queue sees a trickle and each fold takes a large batch.
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { markStale, rollupsRecorded } from '../db/rollups-repo.js';
import type { JobQueue } from '../jobs/queue.js';

export const FOLD_JOB = 'rollups.fold';
export const RECOMPUTE_JOB = 'rollups.recompute';

export interface FoldJob {
  backendId: number;
}

export interface RecomputeJob {
  backendId: number;
  path: string;
}

/** Told after a command committed rollup deltas on a backend. */
export interface RollupNotifier {
  changed(backendId: number): void;
}

export class RollupScheduler implements RollupNotifier {
  private readonly armed = new Set<number>();

  constructor(
    private readonly queue: JobQueue,
    private readonly delayMs: number,
    private readonly log: Logger,
  ) {}

  changed(backendId: number): void {
    if (!rollupsRecorded() || this.armed.has(backendId)) return;
    this.armed.add(backendId);
    // Disarm at half the delay: a commit after that asks again, so a fold that has already taken its
    // batch never leaves a later delta waiting (the job runs no earlier than the full delay).
    setTimeout(() => this.armed.delete(backendId), this.delayMs / 2).unref();
    this.enqueueFold(backendId, this.delayMs);
  }

  /** A fold now (at start, and on the sweep that catches folds lost to a Redis outage or a crash). */
  foldSoon(backendId: number): void {
    this.enqueueFold(backendId, 0);
  }

  private enqueueFold(backendId: number, delayMs: number): void {
    const job: FoldJob = { backendId };
    this.queue.enqueue(FOLD_JOB, job, { delayMs, jobId: `fold-${backendId}-${Date.now()}` }).catch((err) => {
      this.log.warn({ err: String(err), backendId }, 'could not enqueue a rollup fold; the next sweep will fold');
    });
  }

  /** Marks the subtree STALE and queues its recompute; returns how many directories it covers. */
  async requestRecompute(db: Database, backendId: number, path: string): Promise<number> {
    const dirs = await markStale(db, backendId, path);
    const job: RecomputeJob = { backendId, path };
    await this.queue.enqueue(RECOMPUTE_JOB, job, { jobId: `recompute-${backendId}-${Date.now()}` });
    return dirs;
  }
}
