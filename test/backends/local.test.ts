import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { LocalBackend } from '../../src/backends/local.js';
import { fsError } from '../../src/backends/local/errors.js';
import { chunked, put, readAll, rejects, runBackendContract, sha256, text } from './contract.js';

async function sandbox(): Promise<{ dir: string; root: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'filestore-local-'));
  return { dir, root: join(dir, 'root'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

async function openBackend(root: string, instanceId = 'test-instance', id = 1): Promise<LocalBackend> {
  const backend = new LocalBackend({ id, root, instanceId, create: true });
  await backend.open();
  return backend;
}

runBackendContract('local', async () => {
  const { root, cleanup } = await sandbox();
  return { backend: await openBackend(root), cleanup };
});

/** Everything below `dir`: relative path → file contents, link target or "<dir>". */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isDirectory()) {
        out[rel] = '<dir>';
        await walk(p);
      } else if (e.isSymbolicLink()) out[rel] = `-> ${(await lstat(p)).size}`;
      else out[rel] = (await readFile(p)).toString('base64');
    }
  };
  await walk(dir);
  return out;
}

test('location is the absolute root; staging lives in .filestore/staging/<instanceId>', async (t) => {
  const { root, cleanup } = await sandbox();
  t.teardown(cleanup);
  const b = await openBackend(root, 'inst-1', 7);
  t.is(b.location, root);
  t.is(b.kind, 'local');
  t.is(b.id, 7);
  const key = b.newStagingKey();
  t.regex(key, /^inst-1\/[0-9a-f-]{36}$/, 'a key names its owner');
  await b.stage(key, chunked(Buffer.from('staged')));
  t.is(await readFile(join(root, '.filestore', 'staging', key), 'utf8'), 'staged');
});

test('keys name their owner: each instance lists its own, and any can resolve a dead one’s keys', async (t) => {
  const { root, cleanup } = await sandbox();
  t.teardown(cleanup);
  const a = await openBackend(root, 'a');
  const b = await openBackend(root, 'b');
  const key = a.newStagingKey();
  await a.stage(key, chunked(Buffer.from('mine')));
  t.deepEqual(await a.listStaging(), [key]);
  t.deepEqual(await b.listStaging(), []);
  t.deepEqual((await b.stagingOwners()).sort(), ['a', 'b']);
  t.deepEqual(await b.listStaging('a'), [key]);
  t.true(await b.stagingExists(key), 'recovery in another process finds the staged object');
  await b.removeStagingArea('a');
  t.true(await a.stagingExists(key), 'an area that is not empty stays');
  await b.discard(key);
  t.false(await a.stagingExists(key));
  await b.removeStagingArea('a');
  t.deepEqual(await b.stagingOwners(), ['b']);
  // A staging area removed behind a live owner's back is made again by its next staging.
  const again = a.newStagingKey();
  await a.stage(again, chunked(Buffer.from('again')));
  t.true(await a.stagingExists(again));
});

test('a missing root is refused unless the backend may create it (an unmounted volume stays unwritten)', async (t) => {
  const { dir, cleanup } = await sandbox();
  t.teardown(cleanup);
  const missing = join(dir, 'not-mounted');
  const refused = new LocalBackend({ id: 3, root: missing, instanceId: 'x' });
  await rejects(t, refused.open(), 'FAILED_PRECONDITION', 'BACKEND_ROOT_MISSING');
  await t.throwsAsync(readdir(missing), { code: 'ENOENT' }, 'nothing was created');
  await writeFile(join(dir, 'a-file'), 'x');
  await rejects(t, new LocalBackend({ id: 3, root: join(dir, 'a-file'), instanceId: 'x' }).open(), 'FAILED_PRECONDITION', 'BACKEND_ROOT_MISSING');
  const created = new LocalBackend({ id: 3, root: missing, instanceId: 'x', create: true });
  await created.open();
  t.deepEqual(await readdir(missing), ['.filestore']);
});

test('the service refuses to use paths inside .filestore', async (t) => {
  const { root, cleanup } = await sandbox();
  t.teardown(cleanup);
  const b = await openBackend(root);
  const key = b.newStagingKey();
  await b.stage(key, chunked(Buffer.from('x')));
  await rejects(t, b.publish(key, '.filestore/x'), 'PERMISSION_DENIED', 'PATH_RESERVED');
  await rejects(t, b.stat('.filestore'), 'PERMISSION_DENIED', 'PATH_RESERVED');
  await rejects(t, b.remove('.filestore/staging'), 'PERMISSION_DENIED', 'PATH_RESERVED');
  await rejects(t, b.stage('../escape', chunked(Buffer.from('x'))), 'INVALID_ARGUMENT', 'BAD_STAGING_KEY');
  // Copying the whole root leaves the staging area out.
  await put(b, 'top.txt', 'top');
  const copy = b.newStagingKey();
  await b.stageCopy('', copy);
  t.deepEqual(await readdir(join(root, '.filestore', 'staging', copy)), ['top.txt']);
});

test('a backend must be opened first', async (t) => {
  const { root, cleanup } = await sandbox();
  t.teardown(cleanup);
  const b = new LocalBackend({ id: 1, root, instanceId: 'x', create: true });
  await rejects(t, b.stat('a'), 'FAILED_PRECONDITION', 'BACKEND_NOT_OPEN');
  t.throws(() => new LocalBackend({ id: 1, root, instanceId: '../x' }), { message: /instance id/ });
});

test('a root reached through a symlink works', async (t) => {
  const { dir, cleanup } = await sandbox();
  t.teardown(cleanup);
  await mkdir(join(dir, 'real'));
  await symlink(join(dir, 'real'), join(dir, 'alias'));
  const b = await openBackend(join(dir, 'alias'));
  await b.mkdir('d');
  await put(b, 'd/f', 'via alias');
  t.is(await text(b, 'd/f'), 'via alias');
  t.is(await readFile(join(dir, 'real', 'd', 'f'), 'utf8'), 'via alias');
});

test('symlinks are never followed: every operation through one is refused and nothing outside changes', async (t) => {
  const { dir, root, cleanup } = await sandbox();
  t.teardown(cleanup);
  const b = await openBackend(root);
  const outside = join(dir, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret.txt'), 'secret');
  await symlink(outside, join(root, 'evil')); // directory outside the root
  await symlink('/etc/hostname', join(root, 'passwd')); // file outside the root
  await symlink(join(outside, 'nothing'), join(root, 'ghost')); // dangling, outside
  await mkdir(join(root, 'dir'));
  await symlink('../../outside', join(root, 'dir', 'up')); // relative, nested
  await symlink(join(root, 'dir'), join(root, 'inner')); // inside the root: refused as well
  await writeFile(join(root, 'plain.txt'), 'plain');
  const before = await snapshot(outside);
  const hostname = existsSync('/etc/hostname') ? await readFile('/etc/hostname') : undefined;

  const denied = (p: Promise<unknown>) => rejects(t, p, 'PERMISSION_DENIED', 'PATH_ESCAPES_ROOT');
  const staged = b.newStagingKey();
  await b.stage(staged, chunked(Buffer.from('payload')));

  // read
  for (const p of ['passwd', 'evil/secret.txt', 'dir/up/secret.txt', 'inner/x']) await denied(readAll(b.read(p)));
  // stat
  for (const p of ['passwd', 'evil', 'evil/secret.txt', 'ghost', 'ghost/x', 'dir/up', 'dir/up/secret.txt', 'inner']) await denied(b.stat(p));
  // write (publish)
  for (const p of ['evil/new.txt', 'evil/secret.txt', 'passwd', 'ghost', 'ghost/x', 'dir/up/new.txt', 'inner/new.txt']) await denied(b.publish(staged, p));
  t.true(await b.stagingExists(staged), 'refused publishes keep the staging object');
  // mkdir
  for (const p of ['evil', 'evil/sub', 'ghost', 'ghost/sub', 'dir/up/sub']) await denied(b.mkdir(p));
  // rename, both directions
  await denied(b.rename('evil/secret.txt', 'stolen.txt'));
  await denied(b.rename('passwd', 'renamed'));
  await denied(b.rename('plain.txt', 'evil/plain.txt'));
  await denied(b.rename('plain.txt', 'passwd'));
  await denied(b.rename('evil', 'evil2'));
  // unpublish, remove, stageCopy
  for (const p of ['evil/secret.txt', 'passwd', 'evil']) {
    const key = b.newStagingKey();
    await denied(b.unpublish(p, key));
    t.false(await b.stagingExists(key));
  }
  await denied(b.remove('evil/secret.txt'));
  await denied(b.remove('passwd'));
  const copyKey = b.newStagingKey();
  await denied(b.stageCopy('evil', copyKey));
  await denied(b.stageCopy('dir', copyKey)); // the tree contains a link
  t.false(await b.stagingExists(copyKey), 'a refused copy leaves nothing staged');

  t.deepEqual(await snapshot(outside), before, 'nothing outside the root changed');
  t.false(existsSync(join(outside, 'nothing')));
  if (hostname) t.deepEqual(await readFile('/etc/hostname'), hostname);
  t.is(await readFile(join(root, 'plain.txt'), 'utf8'), 'plain');
  t.true((await lstat(join(root, 'passwd'))).isSymbolicLink());
  t.true((await lstat(join(root, 'evil'))).isSymbolicLink());
});

test('errno mapping', (t) => {
  const s = { backendId: 3, path: 'a/b' };
  const err = (code: string) => Object.assign(new Error(code), { code });
  t.like(fsError(err('ENOSPC'), s), { code: 'RESOURCE_EXHAUSTED', reason: 'BACKEND_FULL' });
  t.like(fsError(err('EDQUOT'), s), { code: 'RESOURCE_EXHAUSTED', reason: 'BACKEND_FULL' });
  t.like(fsError(err('ENOENT'), s), { code: 'FAILED_PRECONDITION', reason: 'BACKEND_PATH_MISSING' });
  t.like(fsError(err('ENOTDIR'), s), { code: 'FAILED_PRECONDITION', reason: 'BACKEND_KIND_MISMATCH' });
  t.like(fsError(err('EISDIR'), s), { code: 'FAILED_PRECONDITION', reason: 'BACKEND_KIND_MISMATCH' });
  t.regex((fsError(err('ENOENT'), s) as Error).message, /path "a\/b" on backend 3/);
  const other = err('EIO');
  t.is(fsError(other, s), other);
});

test('a 64 MiB upload in 64 KiB chunks stages at disk speed', async (t) => {
  const { root, cleanup } = await sandbox();
  t.teardown(cleanup);
  const b = await openBackend(root);
  const block = randomBytes(64 * 1024);
  const expected = sha256(Buffer.concat(Array.from({ length: 1024 }, () => block)));
  async function* source() {
    for (let i = 0; i < 1024; i++) yield Buffer.from(block);
  }
  const started = performance.now();
  const staged = await b.stage(b.newStagingKey(), source());
  const ms = performance.now() - started;
  t.log(`staged 64 MiB in ${ms.toFixed(0)} ms (${(64_000 / ms).toFixed(0)} MiB/s, including fsync)`);
  t.is(staged.sizeBytes, 64 * 1024 * 1024);
  t.is(staged.sha256, expected);
});

test.serial('read stream can be destroyed early without leaking the file handle', async (t) => {
  const { root, cleanup } = await sandbox();
  t.teardown(cleanup);
  const b = await openBackend(root);
  await put(b, 'f', randomBytes(1_000_000));
  const openFds = async () => (existsSync('/proc/self/fd') ? (await readdir('/proc/self/fd')).length : 0);
  const before = await openFds();
  const stream = b.read('f', { chunkSize: 1000 });
  for await (const chunk of stream) {
    t.is((chunk as Buffer).byteLength, 1000);
    break;
  }
  t.true(stream.destroyed);
  if (!stream.closed) await new Promise((resolve) => stream.once('close', resolve));
  t.is(await openFds(), before);
});

test('an upload that pauses has every byte sent so far on disk, not held back in memory', async (t) => {
  const { root, cleanup } = await sandbox();
  t.teardown(cleanup);
  const b = await openBackend(root);
  const key = b.newStagingKey();
  const chunk = randomBytes(64 * 1024);
  let resume!: () => void;
  const resumed = new Promise<void>((r) => (resume = r));
  const SENT = 64; // 4 MiB in 64 KiB chunks, offered faster than one write completes, then a pause
  const staging = b.stage(key, (async function* () {
    for (let i = 0; i < SENT; i++) yield chunk;
    await resumed;
    yield chunk;
  })());
  const file = join(root, '.filestore', 'staging', key);
  const deadline = Date.now() + 10_000;
  let size = 0;
  while (Date.now() < deadline && (size = (await lstat(file).catch(() => null))?.size ?? 0) < SENT * chunk.length) {
    await new Promise((r) => setTimeout(r, 10));
  }
  t.is(size, SENT * chunk.length, 'everything sent before the pause is written');
  resume();
  t.is((await staging).sizeBytes, (SENT + 1) * chunk.length);
});
