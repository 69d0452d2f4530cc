// Acceptance: a worker killed in the middle of a fold batch applies none of it; after a restart the
// rollups converge to the truth, with writers busy throughout (no delta applied twice or lost).
// API server in this process without workers; workers in child processes (npm run worker).
import test from 'ava';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { TestClient } from '../support/client.js';
import { deleteKeys, SHARED_REDIS_URL, uniquePrefix } from '../support/redis.js';
import { rollupMismatches, rollupsSettled } from '../support/rollups.js';
import { makeTestEnv, spawnWorker } from '../support/server.js';

const rollupTable = sql`SELECT dir_id, size_bytes, file_count, dir_count FROM rollups ORDER BY dir_id`;

test('a worker killed mid-batch loses nothing and applies nothing twice', async (t) => {
  const prefix = uniquePrefix('rollup-crash');
  const env = await makeTestEnv({
    REDIS_URL: SHARED_REDIS_URL,
    FILESTORE_QUEUE_PREFIX: prefix,
    FILESTORE_ROLLUP_BATCH: '40',
    FILESTORE_ROLLUP_FOLD_DELAY_MS: '20',
    FILESTORE_JOB_STALLED_MS: '1000',
    FILESTORE_JOB_BACKOFF_MS: '50',
  });
  const app = await startApp(loadConfig({ ...env.env, FILESTORE_WORKERS: 'off' }), pino({ level: 'warn' }));
  const client = new TestClient(`127.0.0.1:${app.port}`);
  const db = app.services.db;
  t.teardown(async () => {
    client.close();
    await app.stop(2000);
    await env.cleanup();
    await deleteKeys(prefix);
  });

  let written = 0;
  const writeSome = async (tag: string, n: number) => {
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < n; i++) {
          await client.write({ path: `t${w}/d${i % 4}/e${i % 3}/${tag}-${i}`, parents: true }, Buffer.alloc(100 + i));
          written++;
        }
      }),
    );
  };
  await writeSome('before', 30);
  const [{ n: pendingBefore }] = await db.rows<{ n: string }>(sql`SELECT count(*) AS n FROM rollup_deltas`);
  t.true(Number(pendingBefore) > 40, 'more deltas wait than one batch takes');
  const rowsBefore = await db.rows(rollupTable);

  // The first worker dies (SIGKILL, by its own hand) after applying the first level of its first batch.
  const doomed = await spawnWorker({ ...env.env, FILESTORE_CRASH_AT: 'rollup:fold-mid-batch' });
  t.is(await doomed.exited, 'SIGKILL', doomed.output.join('\n'));
  t.deepEqual(await db.rows(rollupTable), rowsBefore, 'the killed batch changed no rollup');
  const [{ n: pendingAfterCrash }] = await db.rows<{ n: string }>(sql`SELECT count(*) AS n FROM rollup_deltas`);
  t.is(pendingAfterCrash, pendingBefore, 'the killed batch gave its deltas back');

  // Writers keep going while a new worker starts and takes over, including the job left taken by the dead one.
  const during = writeSome('during', 20);
  const worker = await spawnWorker(env.env);
  t.teardown(() => worker.kill('SIGTERM'));
  await during;
  await rollupsSettled(app.jobs.queue, db);
  t.deepEqual(await rollupMismatches(db), [], 'every rollup equals the sums over the live nodes');
  const root = await client.fs('getNode', { backendId: 1, path: '' });
  t.is(root.node.rollup.fileCount, written);
  t.log(`${written} files; ${pendingBefore} deltas waited when the worker was killed`);
});
