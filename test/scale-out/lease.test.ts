// Process leases on PostgreSQL (docs/decisions/004): a fixed instance id is one live process's at a
// time, a dead holder's id is free at once, and a lease session cut while the database stays up is
// re-taken without a restart.
import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { pollHealth } from '../support/health.js';
import { makeTestEnv, REPO_ROOT, spawnServer, type SpawnedServer } from '../support/server.js';

const LOCK_SPACE = 0x46530001;

function instanceOf(s: SpawnedServer): string {
  return JSON.parse(s.output.find((l) => l.includes('filestore serving'))!).instance;
}

/** Runs the server binary until it exits (it is expected to refuse to start). */
function refusedStart(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/main.js')], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

async function leaseHolder(url: string, instance: string): Promise<number | null> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      `SELECT l.pid FROM pg_locks l JOIN instances i ON l.objid = i.lock_key::oid
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid AND l.objsubid = 2 AND i.id = $2
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [LOCK_SPACE, instance],
    );
    return r.rows[0]?.pid ?? null;
  } finally {
    await c.end();
  }
}

test('a fixed FILESTORE_INSTANCE_ID held by a live process is refused, naming it; a SIGKILLed holder\'s id is free at once', async (t) => {
  const env = await makeTestEnv({ FILESTORE_INSTANCE_ID: 'fixed-one' });
  t.teardown(() => env.cleanup());
  const first = await spawnServer(env.env);
  t.teardown(() => first.kill());
  const second = await refusedStart(env.env);
  t.is(second.code, 2);
  t.regex(second.stderr, new RegExp(`^filestore: FILESTORE_INSTANCE_ID=fixed-one is in use by a live process \\(pid ${first.child.pid} on .*\\)`, 'm'));
  t.notRegex(second.stderr, /^\s+at /m, 'no stack');
  await first.kill('SIGKILL');
  const t0 = performance.now();
  const again = await spawnServer(env.env);
  t.teardown(() => again.kill());
  t.log(`the dead holder's id was taken over; serving ${Math.round(performance.now() - t0)} ms after the kill`);
  t.is(instanceOf(again), 'fixed-one');
  await again.client.fs('createDirectory', { backendId: 1, path: 'works' });
});

test('the lease session cut while the database stays up: NOT_SERVING for a moment, the lock re-taken, serving again', async (t) => {
  const env = await makeTestEnv();
  t.teardown(() => env.cleanup());
  delete env.env.FILESTORE_INSTANCE_ID;
  const s = await spawnServer(env.env);
  t.teardown(() => s.kill());
  const instance = instanceOf(s);
  const before = await leaseHolder(env.db.url!, instance);
  t.truthy(before, 'the lease is held by a session of its own');
  const health = pollHealth(`127.0.0.1:${s.port}`, '', 20);
  await sleep(200);
  const admin = new pg.Client({ connectionString: env.db.url! });
  await admin.connect();
  await admin.query('SELECT pg_terminate_backend($1)', [before]);
  await admin.end();
  let after: number | null = null;
  for (let i = 0; i < 100 && !(after && after !== before); i++) {
    await sleep(50);
    after = await leaseHolder(env.db.url!, instance);
  }
  await sleep(300);
  await health.stop();
  t.truthy(after, 'the lock is held again');
  t.not(after, before, 'by a new session');
  const statuses = health.samples.map((x) => x.status);
  t.true(statuses.includes('NOT_SERVING'), `health noticed the lost lease: ${[...new Set(statuses)].join(', ')}`);
  t.is(statuses.at(-1), 'SERVING');
  await s.client.fs('createDirectory', { backendId: 1, path: 'after-the-cut' });
  t.is(s.child.exitCode, null, 'no restart');
});
