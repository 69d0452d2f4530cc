// Needs a Redis on 127.0.0.1:6379 (TEST_REDIS_URL overrides). Every queue gets its own
// key prefix, and the keys are deleted afterwards.
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { Redis } from 'ioredis';
import { BullMqQueue } from '../../src/jobs/bullmq-queue.js';
import { openQueue, type JobQueue } from '../../src/jobs/index.js';
import { startRedis } from '../support/redis.js';
import { queueContract } from './queue-contract.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefixes: string[] = [];
const newPrefix = () => {
  const prefix = `fstest-${randomBytes(6).toString('hex')}`;
  prefixes.push(prefix);
  return prefix;
};

let admin: Redis;

test.before(async () => {
  admin = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  admin.on('error', () => {});
  try {
    await admin.connect();
    await admin.ping();
  } catch (err) {
    throw new Error(`the BullMQ tests need a Redis at ${REDIS_URL} (start redis-server, or set TEST_REDIS_URL): ${(err as Error).message}`);
  }
});

test.after.always(async () => {
  if (admin?.status !== 'ready') return;
  for (const prefix of prefixes) {
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
  }
  admin.disconnect();
});

queueContract('bullmq', async (retry, onFailed) => new BullMqQueue({ redisUrl: REDIS_URL, prefix: newPrefix(), retry, onFailed }));

test.serial('bullmq: enqueue rejects within seconds when Redis is unreachable', async (t) => {
  const q: JobQueue = new BullMqQueue({ redisUrl: 'redis://127.0.0.1:1', prefix: newPrefix(), retry: { attempts: 1, backoffMs: 10 } });
  try {
    for (const _ of [1, 2]) {
      const start = Date.now();
      const err = await t.throwsAsync(q.enqueue('nowhere', { a: 1 }));
      t.regex(err!.message, /^enqueue nowhere: Redis at redis:\/\/127\.0\.0\.1:1 is unreachable: /);
      t.true(Date.now() - start < 3000, `took ${Date.now() - start} ms`);
    }
  } finally {
    await q.close();
  }
});

test.serial('bullmq: keys live under the prefix; openQueue picks BullMQ for a Redis URL', async (t) => {
  const prefix = newPrefix();
  const q = await openQueue({ redisUrl: REDIS_URL, prefix });
  try {
    t.is(q.kind, 'bullmq');
    await q.enqueue('keyed', { a: 1 }, { delayMs: 60_000 });
    const keys = await admin.keys(`${prefix}:*`);
    t.true(keys.some((k) => k.startsWith(`${prefix}:keyed:`)), keys.join());
  } finally {
    await q.close();
  }
});

test.serial('bullmq: while Redis is down enqueue fails fast; once it is back, enqueue and workers resume', async (t) => {
  const redis = await startRedis();
  const q = new BullMqQueue({ redisUrl: redis.url, prefix: newPrefix(), retry: { attempts: 1, backoffMs: 10 } });
  try {
    const seen: number[] = [];
    q.process<number>('outage', async (n) => void seen.push(n));
    await q.enqueue('outage', 1);
    await q.drained(5000);
    t.deepEqual(seen, [1]);

    await redis.kill();
    const start = Date.now();
    const err = await t.throwsAsync(q.enqueue('outage', 2));
    t.regex(err!.message, /^enqueue outage: /); // "unreachable", or the failed command's error if the drop is not yet noticed
    t.true(Date.now() - start < 3000, `took ${Date.now() - start} ms`);

    await redis.restart(); // an empty Redis: job 2 was never added
    await eventually(() => q.enqueue('outage', 3), 5000);
    await eventually(async () => {
      if (seen.length < 2) throw new Error(`the worker ran ${seen.join()}`);
    }, 10_000);
    t.deepEqual(seen, [1, 3]);
  } finally {
    await q.close();
    await redis.stop();
  }
});

async function eventually(fn: () => Promise<void>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
