// Asks for folds after commits: at most two fold jobs per backend per fold delay from one process,
// however many writes commit, so the queue sees a trickle and each fold takes a large batch.
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { rollupsRecorded } from '../db/rollups-repo.js';
import type { JobQueue } from '../jobs/queue.js';
import { markSubtreeStale } from './recompute.js';

export const FOLD_JOB = 'rollups.fold';
export const RECOMPUTE_JOB = 'rollups.recompute';

export interface FoldJob {
  backendId: number;
}

export interface RecomputeJob {
  backendId: number;
  /** The subtree's root directory, by id (it may move before the job runs). */
  dirId: number;
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
    if (this.delayMs === 0) return this.enqueueFold(backendId, 0);
    this.armed.add(backendId);
    // Disarm at half the delay: a commit after that asks again, so a fold that has already taken its
    // batch never leaves a later delta waiting (the job runs no earlier than the full delay, as long as
    // the clocks of this process and of the worker's Redis differ by less than half the delay).
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

  /**
   * Marks the subtree STALE and queues its recompute; returns how many directories it covers. The mark
   * is the durable request: if the job is lost, the workers' sweep queues it again.
   */
  async requestRecompute(db: Database, backendId: number, path: string): Promise<number> {
    const { root, dirs } = await markSubtreeStale(db, backendId, path);
    await this.recompute(backendId, root.id);
    return dirs;
  }

  /** Queues a recompute of directory `dirId`'s subtree (one waiting job per directory at most). */
  recompute(backendId: number, dirId: number): Promise<void> {
    const job: RecomputeJob = { backendId, dirId };
    return this.queue.enqueue(RECOMPUTE_JOB, job, { jobId: `recompute-${backendId}-${dirId}` });
  }
}
