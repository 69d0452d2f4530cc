// A process that runs only the workers (`filestore worker`, `npm run worker`), so that API servers
// and workers scale apart. It shares the queues through Redis and the tables through PostgreSQL.
import pino, { type Logger } from 'pino';
import { openDatabase } from './app.js';
import type { Config } from './config/config.js';
import { StartupError } from './errors/startup-error.js';
import { startEvents } from './events/index.js';
import { startJobs, type JobsRuntime } from './jobs/runtime.js';

export interface WorkerProcess {
  jobs: JobsRuntime;
  log: Logger;
  stop(): Promise<void>;
}

export async function startWorker(config: Config, log: Logger = pino({ level: config.logLevel })): Promise<WorkerProcess> {
  if (!config.redisUrl || !config.databaseUrl) {
    throw new StartupError([
      'a separate worker needs DATABASE_URL (PostgreSQL) and REDIS_URL (BullMQ) shared with the API servers; in the embedded mode `npm start` runs the workers in-process',
    ]);
  }
  const db = await openDatabase(config, { role: 'worker' });
  // Events written by workers (filestore.rollup.updated) wake the API servers' hubs through Redis.
  const events = await startEvents(db, config.events, config.redisUrl, config.backends.map((b) => b.id), log);
  const jobs = await startJobs(config, db, events.hub, log, true);
  log.info({ queues: 'bullmq', prefix: config.jobs.prefix, backends: config.backends.map((b) => b.id) }, 'filestore workers running');
  return {
    jobs,
    log,
    async stop() {
      await jobs.close();
      await events.close();
      await db.close();
    },
  };
}
