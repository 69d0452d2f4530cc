// Bench settings, all from the environment, with defaults sized for a ~2-3 minute run on 2 cores.
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

function positive(name: string, fallback: number, { integer = false, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > max || (integer && !Number.isInteger(value))) {
    throw new Error(`${name}=${raw}: expected a positive ${integer ? 'integer' : 'number'} ≤ ${max}`);
  }
  return value;
}

const seconds = positive('FILESTORE_BENCH_SECONDS', 5, { max: 600 });

export const SECTIONS = ['streaming', 'unary', 'events', 'rollups', 'listing', 's3'] as const;
export type Section = (typeof SECTIONS)[number];

/** FILESTORE_BENCH_ONLY: a comma-separated subset of SECTIONS to run (default: all of them). */
function sections(): ReadonlySet<Section> {
  const raw = process.env.FILESTORE_BENCH_ONLY?.trim();
  if (!raw) return new Set(SECTIONS);
  const picked = raw.split(',').map((x) => x.trim()).filter(Boolean);
  const unknown = picked.filter((x) => !(SECTIONS as readonly string[]).includes(x));
  if (unknown.length || !picked.length) throw new Error(`FILESTORE_BENCH_ONLY=${raw}: expected a comma-separated list of ${SECTIONS.join(', ')}`);
  return new Set(picked as Section[]);
}

function rollupTree(): { top: number; sub: number; files: number } {
  const raw = process.env.FILESTORE_BENCH_ROLLUP_TREE?.trim() || '100,100,99';
  const [top, sub, files] = raw.split(',').map(Number);
  if (![top, sub, files].every((n) => Number.isInteger(n) && n > 0 && n <= 100_000)) {
    throw new Error(`FILESTORE_BENCH_ROLLUP_TREE=${raw}: expected top,sub,files (positive integers)`);
  }
  return { top, sub, files };
}

export const settings = {
  /** Measured seconds per closed-loop point (FILESTORE_BENCH_SECONDS). */
  seconds,
  /** Warm-up before each closed-loop point: a fifth of the duration, between 0.2 s and 1 s. */
  warmupSeconds: Math.min(1, Math.max(0.2, seconds / 5)),
  /** 'pg' (default): a fresh PostgreSQL database; 'pglite': the embedded default (FILESTORE_BENCH_DB=pglite). */
  db: (process.env.FILESTORE_BENCH_DB === 'pglite' ? 'pglite' : 'pg') as 'pg' | 'pglite',
  /** Admin connection used to create and drop the run's databases. */
  adminUrl: process.env.FILESTORE_BENCH_ADMIN_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  /** Size of the streamed file and of its chunks. */
  streamBytes: positive('FILESTORE_BENCH_STREAM_MIB', 256, { integer: true, max: 4096 }) * 1024 * 1024,
  chunkBytes: 1024 * 1024,
  /** Timed repetitions of each streaming transfer (the median is reported). */
  streamRuns: positive('FILESTORE_BENCH_STREAM_RUNS', 3, { integer: true, max: 20 }),
  /** Payload of the small-file scenario. */
  smallFileBytes: 4 * 1024,
  /**
   * The events delivery load: CreateDirectory per second (FILESTORE_BENCH_EVENT_RATE), each creating this many
   * directories (FILESTORE_BENCH_EVENT_DIRS, with `parents`), so (dirs + 1) events per command. The default,
   * 500/s of one directory, is the target's load of 1,000 events/s; 200/s of 4 makes as many events with fewer commands.
   */
  eventCommandsPerSec: positive('FILESTORE_BENCH_EVENT_RATE', 500, { max: 20_000 }),
  eventDirsPerCommand: positive('FILESTORE_BENCH_EVENT_DIRS', 1, { integer: true, max: 64 }),
  /** Redis for the rollups section's servers (BullMQ, as in service mode): FILESTORE_BENCH_REDIS_URL, else REDIS_URL. */
  redisUrl: process.env.FILESTORE_BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  /**
   * The tree the rollups recompute runs over, bulk-loaded with SQL: FILESTORE_BENCH_ROLLUP_TREE=top,sub,files
   * (default 100,100,99: 100 + 10,000 directories and 990,000 files, 1,000,100 nodes).
   */
  rollupTree: rollupTree(),
  /** The parts of the bench to run (FILESTORE_BENCH_ONLY); the baselines they need run with them. */
  only: sections(),
  /** Safety cap on calls per closed-loop point, on top of the time limit. */
  maxCallsPerPoint: 5_000_000,
};

export type Settings = typeof settings;
