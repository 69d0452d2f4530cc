// The job side of one process: the queue, the rollup scheduler every command reports to, and,
// where this process runs workers, the rollup workers.
import type { Logger } from 'pino';
import type { CommitListener } from '../commands/services.js';
import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import { setRollupRecording } from '../db/rollups-repo.js';
import { RollupScheduler } from '../rollups/scheduler.js';
import { startRollupWorkers } from '../rollups/workers.js';
import { openQueue } from './index.js';
import type { JobQueue } from './queue.js';

export interface JobsRuntime {
  queue: JobQueue;
  scheduler: RollupScheduler;
  close(): Promise<void>;
}

export async function startJobs(config: Config, db: Database, commits: CommitListener, log: Logger, runWorkers: boolean): Promise<JobsRuntime> {
  setRollupRecording(config.rollups.enabled);
  const queue = await openQueue({
    redisUrl: config.redisUrl,
    prefix: config.jobs.prefix,
    retry: { attempts: config.jobs.attempts, backoffMs: config.jobs.backoffMs },
    stalledMs: config.jobs.stalledMs,
    onFailed: (name, jobId, err, terminal) =>
      log[terminal ? 'error' : 'warn']({ job: name, jobId, err: String(err) }, terminal ? 'job failed for good' : 'job failed; it will be retried'),
  });
  const scheduler = new RollupScheduler(queue, config.rollups.foldDelayMs, log);
  const workers = runWorkers
    ? startRollupWorkers({
        db,
        commits,
        queue,
        scheduler,
        backendIds: config.backends.map((b) => b.id),
        batchSize: config.rollups.batchSize,
        sweepMs: config.rollups.sweepMs,
        log,
      })
    : null;
  return {
    queue,
    scheduler,
    async close() {
      workers?.stop();
      await queue.close();
    },
  };
}
