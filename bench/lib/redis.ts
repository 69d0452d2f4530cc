// A BullMQ key prefix of the run's own in the local Redis (fsbench-<random>), whose keys the cleanup deletes.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { defer } from './cleanup.js';

export interface BenchRedis {
  url: string;
  /** The run's prefix; servers get `${prefix}-<n>` each, which the cleanup covers too. */
  prefix: string;
  /** Deletes every key under the prefix (also run by the cleanup). */
  clear(): Promise<void>;
}

async function withRedis<T>(url: string, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
  } catch (err) {
    throw new Error(`the rollups section needs Redis at ${url} (set FILESTORE_BENCH_REDIS_URL): ${(err as Error).message}`);
  }
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function deleteKeys(url: string, pattern: string): Promise<number> {
  return withRedis(url, async (r) => {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await r.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  });
}

export async function benchRedis(url: string): Promise<BenchRedis> {
  await withRedis(url, (r) => r.ping());
  const prefix = `fsbench-${randomBytes(4).toString('hex')}`;
  const clear = async () => {
    await deleteKeys(url, `${prefix}*`);
  };
  const cleanup = defer(`delete Redis keys ${prefix}*`, clear);
  return { url, prefix, clear: cleanup };
}
