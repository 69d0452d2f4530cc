// The rollups section (FILESTORE_BENCH_ONLY=rollups): servers of its own, on fresh PostgreSQL databases,
// with BullMQ in the local Redis under a prefix of the run's (deleted at the end).
import type { Settings } from '../lib/env.js';
import { benchRedis } from '../lib/redis.js';
import { rollupRecompute, type RecomputeResult } from './rollups-recompute.js';
import { rollupWriters, type WritersPair } from './rollups-writers.js';

export interface RollupsResult {
  redisPrefix: string;
  writers: WritersPair[];
  recompute: RecomputeResult;
}

export async function rollupsScenario(settings: Settings, dataDir: string, log: (m: string) => void): Promise<RollupsResult> {
  if (settings.db !== 'pg') throw new Error('the rollups section needs PostgreSQL (it runs without FILESTORE_BENCH_DB=pglite)');
  const redis = await benchRedis(settings.redisUrl);
  log(`  Redis ${settings.redisUrl}, queue prefix ${redis.prefix}-<n>`);
  try {
    log('  writers: 16 clients, 4 KiB WriteFile each into its own w<i>/a/b/, rollups off / on, twice');
    const writers = await rollupWriters(settings, redis, dataDir, log);
    log('  recompute of a bulk-loaded tree');
    const recompute = await rollupRecompute(settings, redis, dataDir, log);
    return { redisPrefix: redis.prefix, writers, recompute };
  } finally {
    await redis.clear();
  }
}
