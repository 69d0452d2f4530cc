// Rollups, full recompute of a ~1,000,000-node tree, with the server's RSS during it. The tree is
// bulk-loaded with SQL straight into the server's database once the server has created backend 1's root
// (top × sub directories, `files` file rows in each subdirectory: metadata only, no file on disk — the
// recompute reads only metadata), with a zero `rollups` row per directory and no delta, so every rollup is
// wrong until recomputed. The bench then enqueues rollups.recompute of '' on backend 1 into the server's
// BullMQ queue through the project's queue layer, and polls the root's rollups row until it counts the
// loaded files; RSS is sampled meanwhile. Yardstick: the same sums as plain SQL on the same database.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { openQueue } from '../../src/jobs/index.js';
import { RECOMPUTE_JOB, type RecomputeJob } from '../../src/rollups/scheduler.js';
import { BACKEND_ID } from '../lib/client.js';
import type { Settings } from '../lib/env.js';
import type { BenchRedis } from '../lib/redis.js';
import { rootId, startRollupServer } from '../lib/rollup-server.js';
import { sampleRss, type RssWindow } from '../lib/rss-sampler.js';
import { rootRollup, type RollupRoot } from './rollups-writers.js';
import { loadTree } from '../lib/bulk-tree.js';

const TIMEOUT_MS = 180_000;
const RSS_EVERY_MS = 50;
/** Sampled before the enqueue, for the baseline. */
const BASELINE_MS = 1_000;

export interface RecomputeResult {
  tree: { top: number; sub: number; files: number };
  nodes: number;
  dirs: number;
  files: number;
  sizeBytes: number;
  /** INSERTs of nodes and rollups rows, and ANALYZE. */
  loadMs: number;
  /** Enqueue → the root's rollups row shows the loaded files (null: not within the timeout). */
  recomputeMs: number | null;
  /** What the server logged for the job ("rollups recomputed"): its own duration and directories. */
  serverReport?: { ms: number; dirs: number; corrected: number };
  root: RollupRoot;
  exact: boolean;
  rssBaselineMiB: number;
  rss: RssWindow;
  /** Plain SQL on the same database: whole-tree totals, and per-directory direct sums (GROUP BY parent_id). */
  baseline: { totalsMs: number; perDirMs: number };
}

/** The fields of the server's (pino, JSON) log line with this message, if it logged one. */
function serverLog(output: string[], msg: string): { ms?: number; dirs?: number; corrected?: number } | undefined {
  for (const line of output) {
    if (!line.includes(msg)) continue;
    try {
      return JSON.parse(line);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

async function sqlBaseline(db: pg.Client): Promise<RecomputeResult['baseline']> {
  const [, totalsMs] = await timed(() =>
    db.query(
      `SELECT count(*) FILTER (WHERE kind = 'FILE'), count(*) FILTER (WHERE kind = 'DIRECTORY'), sum(size_bytes)
       FROM nodes WHERE backend_id = 1 AND state <> 'DELETED'`,
    ),
  );
  const [, perDirMs] = await timed(() =>
    db.query(
      `SELECT count(*) FROM (SELECT parent_id, count(*) FILTER (WHERE kind = 'FILE'), sum(size_bytes)
       FROM nodes WHERE backend_id = 1 AND state <> 'DELETED' GROUP BY parent_id) x`,
    ),
  );
  return { totalsMs, perDirMs };
}

export async function rollupRecompute(settings: Settings, redis: BenchRedis, dataDir: string, log: (m: string) => void): Promise<RecomputeResult> {
  const tree = settings.rollupTree;
  const s = await startRollupServer(settings, redis, dataDir, 'on');
  try {
    const root = await rootId(s.db);
    const dirs = tree.top + tree.top * tree.sub;
    const files = tree.top * tree.sub * tree.files;
    // sum over k of (1000 + k), per subdirectory
    const sizeBytes = tree.top * tree.sub * (1000 * tree.files + (tree.files * (tree.files - 1)) / 2);
    log(`  loading ${(dirs + files).toLocaleString('en-US')} nodes with SQL (metadata only: no file exists on disk)`);
    const [, loadMs] = await timed(() => loadTree(s.db, root, tree));
    log(`  loaded in ${(loadMs / 1000).toFixed(1)} s; SQL baseline…`);
    const baseline = await sqlBaseline(s.db);

    const stopRss = sampleRss(s.served.pid, RSS_EVERY_MS);
    await sleep(BASELINE_MS);
    const before = stopRss();
    const rssBaselineMiB = before.peakMiB;

    const queue = await openQueue({ redisUrl: redis.url, prefix: s.prefix });
    const job: RecomputeJob = { backendId: BACKEND_ID, dirId: root };
    const stopDuring = sampleRss(s.served.pid, RSS_EVERY_MS);
    const t0 = performance.now();
    let recomputeMs: number | null = null;
    try {
      await queue.enqueue(RECOMPUTE_JOB, job, { jobId: `recompute-1-bench-${Date.now()}` });
      while (performance.now() - t0 < TIMEOUT_MS) {
        const { rows } = await s.db.query<{ file_count: string }>('SELECT file_count FROM rollups WHERE backend_id = 1 AND dir_id = $1', [root]);
        if (Number(rows[0]?.file_count) === files) {
          recomputeMs = performance.now() - t0;
          break;
        }
        await sleep(RSS_EVERY_MS);
      }
    } finally {
      await queue.close();
    }
    const rss = stopDuring();

    const after = await rootRollup(s.client);
    const exact = after.fileCount === files && after.dirCount === dirs && after.sizeBytes === sizeBytes && after.state === 'UP_TO_DATE';
    const parsed = serverLog(s.served.output, 'rollups recomputed');
    const serverReport = parsed?.ms !== undefined ? { ms: parsed.ms, dirs: parsed.dirs ?? -1, corrected: parsed.corrected ?? -1 } : undefined;
    log(
      `  recompute: ${recomputeMs === null ? `not done after ${TIMEOUT_MS} ms` : `${(recomputeMs / 1000).toFixed(2)} s`}` +
        `${serverReport ? ` (server: ${(serverReport.ms / 1000).toFixed(2)} s, ${serverReport.dirs} dirs)` : ''}; ` +
        `root ${after.fileCount} files / ${after.dirCount} dirs / ${after.sizeBytes} bytes (${after.state}); ` +
        `RSS ${rssBaselineMiB.toFixed(0)} MiB before, peak ${rss.peakMiB.toFixed(0)} MiB (VmHWM ${rss.hwmMiB.toFixed(0)})`,
    );
    return {
      tree,
      nodes: dirs + files,
      dirs,
      files,
      sizeBytes,
      loadMs,
      recomputeMs,
      ...(serverReport ? { serverReport } : {}),
      root: after,
      exact,
      rssBaselineMiB,
      rss,
      baseline,
    };
  } finally {
    await s.stop();
  }
}
