// Retention: events older than the retention period are pruned in batches, and each backend's
// horizon records the highest cursor pruned, so that a resume from before it is refused (OUT_OF_RANGE)
// instead of silently skipping what was pruned.
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { pruneBatch } from '../db/events-repo.js';

export interface RetentionOptions {
  retentionMs: number;
  intervalMs: number;
  batchSize: number;
}

/** Prunes every backend's events older than `cutoff`; returns how many went. */
export async function pruneEvents(db: Database, backendIds: number[], cutoff: Date, batchSize = 5000): Promise<number> {
  let total = 0;
  for (const backendId of backendIds) {
    for (;;) {
      const n = await pruneBatch(db, backendId, cutoff, batchSize);
      total += n;
      if (n < batchSize) break;
    }
  }
  return total;
}

/** Runs pruneEvents on an interval (every instance may run it; batches are independent deletes). */
export class EventPruner {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly backendIds: number[],
    private readonly options: RetentionOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), this.options.intervalMs);
    this.timer.unref();
    void this.runOnce();
  }

  runOnce(): Promise<void> {
    this.running ??= (async () => {
      try {
        const cutoff = new Date(Date.now() - this.options.retentionMs);
        const pruned = await pruneEvents(this.db, this.backendIds, cutoff, this.options.batchSize);
        if (pruned) this.log.info({ pruned, cutoff }, 'pruned events past retention');
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'event retention run failed; retrying at the next interval');
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
