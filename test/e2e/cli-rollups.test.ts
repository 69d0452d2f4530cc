// `filestore rollups:recompute`, run as operators run it (the compiled CLI in a child process):
// it repairs drifted rollups at once without Redis, queues the recompute for the workers with it,
// and refuses to open the embedded database behind a server's back.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { sql } from 'drizzle-orm';
import { RollupState } from '../../gen/filestore/v1/node.js';
import { connectPglite } from '../../src/db/database.js';
import { testDbKind } from '../support/database.js';
import { deleteKeys, SHARED_REDIS_URL, uniquePrefix } from '../support/redis.js';
import { rollupMismatches, rollupsSettled } from '../support/rollups.js';
import { REPO_ROOT, startTestServer, type TestServer } from '../support/server.js';

const run = promisify(execFile);
const cli = (env: Record<string, string>, ...args: string[]) =>
  run(process.execPath, [path.join(REPO_ROOT, 'bin/filestore.mjs'), 'rollups:recompute', ...args], { env: { ...process.env, ...env } });

async function drifted(s: TestServer): Promise<void> {
  await s.client.fs('createDirectory', { backendId: 1, path: 'tree/a/b', parents: true });
  for (let i = 0; i < 4; i++) await s.client.write({ path: `tree/a/b/f${i}` }, Buffer.alloc(250));
  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
  // Drift no command can cause (the table edited by hand): only a recompute from the root repairs it.
  await s.app.services.db.rows(sql`UPDATE rollups SET size_bytes = 0, file_count = 0, dir_count = 0`);
  const root = (await s.client.fs('getNode', { backendId: 1, path: '' })).node.rollup;
  if (root.fileCount !== 0) throw new Error('the drift did not take');
}

test('refuses the embedded database unless told the server is stopped, and bad arguments, with exit 2', async (t) => {
  type Failed = Error & { code: number; stderr: string };
  const err = await t.throwsAsync<Failed>(cli({ FILESTORE_DATA_DIR: '/nonexistent-filestore', DATABASE_URL: '' }, 'tree'));
  t.is(err?.code, 2);
  t.regex(err?.stderr ?? '', /stop the server, then run this again with --offline/);
  const bad = await t.throwsAsync<Failed>(cli({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }, '../x'));
  t.is(bad?.code, 2);
  t.regex(bad?.stderr ?? '', /path/i);
});

test('without Redis it recomputes at once and the drifted rollups are exact again', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  await drifted(s);
  const env = { ...s.env, FILESTORE_LOG_LEVEL: 'silent' };
  if (testDbKind === 'pglite') {
    await s.app.stop(2000); // the embedded database serves one process: the server must be down
    const { stdout } = await cli(env, '--offline');
    t.regex(stdout, /^recomputed 4 directories under "" on backend 1 in [\d.]+ s; 4 were wrong or not yet folded/);
    const db = await connectPglite(path.join(s.dataDir, 'pglite'));
    t.deepEqual(await rollupMismatches(db), []);
    await db.close();
    return;
  }
  const { stdout } = await cli(env);
  t.regex(stdout, /^recomputed 4 directories under "" on backend 1 in [\d.]+ s; 4 were wrong or not yet folded/);
  t.deepEqual(await rollupMismatches(s.app.services.db), []);
  t.like((await s.client.fs('getNode', { backendId: 1, path: '' })).node.rollup, { fileCount: 4, dirCount: 3, sizeBytes: 1000, state: RollupState.ROLLUP_STATE_UP_TO_DATE });
});

// A queue shared with the servers' workers needs PostgreSQL: this one runs on the PostgreSQL pass.
if (testDbKind === 'pg') test('with Redis it queues the recompute; the servers\' workers run it', async (t) => {
  const prefix = uniquePrefix('cli-rollups');
  const s = await startTestServer({ REDIS_URL: SHARED_REDIS_URL, FILESTORE_QUEUE_PREFIX: prefix });
  t.teardown(async () => {
    await s.close();
    await deleteKeys(prefix);
  });
  await drifted(s);
  const { stdout } = await cli({ ...s.env, FILESTORE_LOG_LEVEL: 'silent' }, 'tree');
  t.regex(stdout, /^queued: 3 directories under "tree" on backend 1 read STALE until the workers have recomputed them/);
  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
  for (const p of ['tree', 'tree/a', 'tree/a/b']) t.is((await s.client.fs('getNode', { backendId: 1, path: p })).node.rollup.state, RollupState.ROLLUP_STATE_UP_TO_DATE, p);
  t.like((await s.client.fs('getNode', { backendId: 1, path: 'tree' })).node.rollup, { fileCount: 4, dirCount: 2, sizeBytes: 1000 });
});
