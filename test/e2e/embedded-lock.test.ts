// One process per embedded database: while a server holds it, in the middle of an upload, a second
// server (on another port, or on the same one), `filestore migrate` and `filestore
// rollups:recompute --offline` each exit with a message naming the server, and change nothing;
// the upload then completes intact. A server killed with SIGKILL does not block the next start.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { makeTestEnv, REPO_ROOT, spawnServer } from '../support/server.js';
import { content, contentSha256, MiB, readHashed, stagingLeftovers, waitFor } from './helpers.js';

interface Exit {
  code: number | null;
  output: string;
}

/** Runs `node <args>` in the repository with `env` to its end. */
function runNode(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} still ran after ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Every path under `root`, relative, sorted. */
async function listing(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.sort();
}

const SIZE = 8 * MiB;

test.serial('while a server holds the embedded database mid-upload, other processes on it are refused and change nothing', async (t) => {
  // PGlite whatever FILESTORE_TEST_DB says: the lock is the embedded database's.
  const testEnv = await makeTestEnv({ DATABASE_URL: '' });
  t.teardown(() => testEnv.cleanup());
  const env = testEnv.env;
  const root = path.join(testEnv.dataDir, 'data');
  const lockFile = path.join(testEnv.dataDir, 'pglite.lock');
  const server = await spawnServer(env);
  t.teardown(() => server.kill());

  // An upload that pauses halfway, its first half staged on the server.
  let halfway!: () => void;
  const atHalf = new Promise<void>((resolve) => (halfway = resolve));
  let resume!: () => void;
  const resumed = new Promise<void>((resolve) => (resume = resolve));
  const upload = server.client.write({ path: 'held.bin' }, (async function* () {
    let sent = 0;
    for (const chunk of content('held', SIZE)) {
      yield chunk;
      sent += chunk.length;
      if (sent === SIZE / 2) {
        halfway();
        await resumed;
      }
    }
  })());
  upload.catch(() => {}); // awaited below; if the test fails first, the teardown's kill ends it
  await atHalf;
  let staged: string[] = [];
  await waitFor(async () => {
    staged = await stagingLeftovers(root);
    return staged.length === 1 && (await stat(path.join(root, '.filestore/staging', staged[0]))).size === SIZE / 2;
  }, 20_000, 'the first half staged');

  const lock = await readFile(lockFile, 'utf8');
  const since = JSON.parse(lock).since as string;
  const before = await listing(testEnv.dataDir);
  const holder = `is in use by pid ${server.child.pid} on host ${hostname()} (server, gRPC 127.0.0.1:${server.port}), since ${since}. Stop that process first; if it is gone for sure, remove ${lockFile}`;

  const attempts: [string, string[], Record<string, string>][] = [
    ['a second server on another port', ['dist/src/main.js'], {}],
    ['filestore migrate', ['bin/filestore.mjs', 'migrate'], {}],
    ['filestore rollups:recompute --offline', ['bin/filestore.mjs', 'rollups:recompute', '--offline'], {}],
  ];
  for (const [label, args, extra] of attempts) {
    const exit = await runNode(args, { ...env, FILESTORE_LOG_LEVEL: 'info', ...extra });
    t.not(exit.code, 0, `${label} exits non-zero`);
    t.true(exit.output.includes(`the embedded database under ${testEnv.dataDir} ${holder}`), `${label} names the holder:\n${exit.output}`);
    t.false(exit.output.includes('filestore serving'), label);
    t.deepEqual(await listing(testEnv.dataDir), before, `${label} created or removed nothing`);
    t.is(await readFile(lockFile, 'utf8'), lock, `${label} left the lock alone`);
    t.deepEqual(await stagingLeftovers(root), staged, `${label} left the upload's staging file alone`);
  }

  // Refused by the lock, or by the port once the server binds before it opens anything: either way
  // it must leave the running server's upload alone.
  const samePort = await runNode(['dist/src/main.js'], { ...env, FILESTORE_LOG_LEVEL: 'info', FILESTORE_GRPC_ADDR: `127.0.0.1:${server.port}` });
  t.not(samePort.code, 0, `a second server on the same port exits non-zero:\n${samePort.output}`);
  t.deepEqual(await stagingLeftovers(root), staged, 'a second server on the same port left the upload\'s staging file alone');
  t.is(await readFile(lockFile, 'utf8'), lock);

  resume();
  const written = await upload;
  t.is(written.node?.sizeBytes, SIZE);
  const back = await readHashed(server.client, { path: 'held.bin' });
  t.is(back.size, SIZE);
  t.is(back.sha256, contentSha256('held', SIZE));
});

test.serial('after the server is killed with SIGKILL, the next start on its data directory takes the lock at once', async (t) => {
  const testEnv = await makeTestEnv({ DATABASE_URL: '' });
  t.teardown(() => testEnv.cleanup());
  const lockFile = path.join(testEnv.dataDir, 'pglite.lock');
  const first = await spawnServer(testEnv.env);
  await first.client.write({ path: 'kept.bin' }, Buffer.from('kept across the kill\n'));
  t.is(await first.kill('SIGKILL'), null);
  t.is(JSON.parse(await readFile(lockFile, 'utf8')).pid, first.child.pid, 'the killed server left its lock');

  const started = performance.now();
  const second = await spawnServer(testEnv.env);
  t.teardown(() => second.kill());
  t.log(`the next start served after ${(performance.now() - started).toFixed(0)} ms`);
  t.like(JSON.parse(await readFile(lockFile, 'utf8')), { pid: second.child.pid, role: 'server' });
  t.is((await second.client.read({ path: 'kept.bin' })).data.toString(), 'kept across the kill\n');
});
