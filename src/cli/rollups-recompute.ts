// `filestore rollups:recompute [path]`: recompute a subtree's rollups. With REDIS_URL the request is
// queued for the workers (the subtree reads STALE until they ran it); without, on PostgreSQL, this
// process recomputes at once (the rollup lock keeps it apart from any running server's folds).
import pino from 'pino';
import { openDatabase } from '../app.js';
import type { Config } from '../config/config.js';
import { StartupError } from '../errors/startup-error.js';
import { openQueue, TerminalJobError } from '../jobs/index.js';
import { validatePath } from '../paths/index.js';
import { foldBackend } from '../rollups/fold.js';
import { markSubtreeStale, recomputeRollups } from '../rollups/recompute.js';
import { RollupScheduler } from '../rollups/scheduler.js';

export interface RecomputeOptions {
  backend: number;
  path: string;
  /** PGlite: the caller confirms that no server has the embedded database open. */
  offline: boolean;
}

const noEvents = { committed() {} }; // subscribers' servers read the outbox within their poll interval

export async function rollupsRecompute(config: Config, o: RecomputeOptions): Promise<string> {
  if (!config.databaseUrl && !o.offline) {
    throw new StartupError(['the embedded database serves one process at a time: stop the server, then run this again with --offline']);
  }
  if (!config.backends.some((b) => b.id === o.backend)) throw new StartupError([`backend ${o.backend} is not configured (FILESTORE_BACKENDS_PATH)`]);
  if (o.path) validatePath(o.path);
  const db = await openDatabase(config, { role: 'rollups:recompute' });
  try {
    if (config.redisUrl) {
      const queue = await openQueue({ redisUrl: config.redisUrl, prefix: config.jobs.prefix });
      try {
        const scheduler = new RollupScheduler(queue, config.rollups.foldDelayMs, pino({ level: 'silent' }));
        const { root, dirs } = await markSubtreeStale(db, o.backend, o.path);
        // Redis out of reach is the operator's to fix (exit 2), not a bug.
        await scheduler.recompute(o.backend, root.id).catch((err: Error) => {
          throw new StartupError([`REDIS_URL: ${err.message}`]);
        });
        return `queued: ${dirs} directories under "${o.path}" on backend ${o.backend} read STALE until the workers have recomputed them`;
      } finally {
        await queue.close();
      }
    }
    const { root } = await markSubtreeStale(db, o.backend, o.path);
    const report = await recomputeRollups(db, noEvents, o.backend, root.id);
    await foldBackend(db, noEvents, o.backend, config.rollups.batchSize); // the correction, up to the root
    return `recomputed ${report.dirs} directories under "${o.path}" on backend ${o.backend} in ${(report.ms / 1000).toFixed(2)} s; ${report.corrected} were wrong or not yet folded`;
  } catch (err) {
    // "is not a live node", "is a file": answers to the operator's arguments, not bugs.
    throw err instanceof TerminalJobError ? new StartupError([err.message]) : err;
  } finally {
    await db.close();
  }
}
