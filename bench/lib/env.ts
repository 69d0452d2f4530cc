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
  /** Safety cap on calls per closed-loop point, on top of the time limit. */
  maxCallsPerPoint: 5_000_000,
};

export type Settings = typeof settings;
