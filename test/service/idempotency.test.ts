// ARCHITECTURE §3 invariant 3: a command carrying an idempotency key has at most one effect; a retry
// with the same key and parameters returns the original result; other parameters are refused; a
// failure releases the key; keys are scoped per principal.
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { status, type ServiceError } from '@grpc/grpc-js';
import { sha256, TestClient } from '../support/client.js';
import { errorInfo, journalRows, listTree, nodeRows } from '../support/observe.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ALICE = '0123456789abcdef0123';
const BOB = 'fedcba9876543210fedc';

let s: TestServer;
let authed: TestServer;
test.before(async () => {
  [s, authed] = await Promise.all([startTestServer(), startTestServer({ FILESTORE_TOKENS: `alice:${ALICE},bob:${BOB}` })]);
});
test.after.always(async () => Promise.all([s?.close(), authed?.close()]));

const mkdir = (p: string) => s.client.fs('createDirectory', { backendId: 1, path: p, parents: true });

async function entriesForKey(server: TestServer, key: string) {
  return (await journalRows(server)).filter((e) => e.idempotency_key === key);
}

/** The entries on disk below `dir`, sorted by path. */
async function names(dir: string): Promise<string[]> {
  return (await listTree(path.join(s.root, dir))).map((l) => l.split('|')[0]).sort();
}

async function versions(p: string): Promise<number[]> {
  const res = await s.client.fs('listNodeVersions', { backendId: 1, path: p });
  return res.versions.map((v: any) => v.version);
}

/** The node's whole history: all snapshot rows of the node, whatever its state now. */
async function snapshotCount(nodeId: number): Promise<number> {
  const res = await s.client.fs('listNodeVersions', { nodeId });
  return res.versions.length;
}

async function reused(t: ExecutionContext, call: Promise<unknown>) {
  const err = (await t.throwsAsync(call)) as ServiceError;
  t.is(err?.code, status.FAILED_PRECONDITION);
  if (err) t.is(errorInfo(err).reason, 'IDEMPOTENCY_KEY_REUSED');
}

interface Case {
  name: string;
  /** Prepares `dir` and returns the request to send twice. */
  prepare(dir: string): Promise<() => Promise<any>>;
  /** Checks that the effect happened exactly once. */
  once(t: ExecutionContext, dir: string, result: any): Promise<void>;
}

const CASES: Case[] = [
  {
    name: 'CreateDirectory',
    async prepare(dir) {
      await mkdir(dir);
      return () => s.client.fs('createDirectory', { backendId: 1, path: `${dir}/new`, metadata: { a: 1 }, idempotencyKey: `${dir}-key` });
    },
    async once(t, dir) {
      t.deepEqual(await versions(`${dir}/new`), [1]);
      t.deepEqual(await listTree(path.join(s.root, dir)), ['new|dir|0|']);
    },
  },
  {
    name: 'WriteFile (create)',
    async prepare(dir) {
      await mkdir(dir);
      const data = randomBytes(100_000);
      return () => s.client.write({ path: `${dir}/f`, idempotencyKey: `${dir}-key`, sha256: sha256(data) }, data);
    },
    async once(t, dir, r) {
      t.deepEqual(await versions(`${dir}/f`), [1]);
      t.is(readFileSync(path.join(s.root, dir, 'f')).length, r.node.sizeBytes);
    },
  },
  {
    name: 'WriteFile (overwrite)',
    async prepare(dir) {
      await mkdir(dir);
      await s.client.write({ path: `${dir}/f` }, Buffer.from('v1'));
      return () => s.client.write({ path: `${dir}/f`, overwrite: true, idempotencyKey: `${dir}-key` }, Buffer.from('v2'));
    },
    async once(t, dir) {
      t.deepEqual(await versions(`${dir}/f`), [2, 1]);
      t.is(readFileSync(path.join(s.root, dir, 'f'), 'utf8'), 'v2');
    },
  },
  {
    name: 'MoveNode',
    async prepare(dir) {
      await s.client.write({ path: `${dir}/a/f`, parents: true }, Buffer.from('f'));
      return () => s.client.fs('moveNode', { backendId: 1, path: `${dir}/a`, targetPath: `${dir}/b`, idempotencyKey: `${dir}-key` });
    },
    async once(t, dir, r) {
      t.deepEqual(await versions(`${dir}/b`), [2, 1]);
      t.is(r.node.version, 2);
      t.deepEqual(await names(dir), ['b', 'b/f']);
      t.is(readFileSync(path.join(s.root, dir, 'b/f'), 'utf8'), 'f');
    },
  },
  {
    name: 'MoveNode by node_id',
    async prepare(dir) {
      const f = await s.client.write({ path: `${dir}/a`, parents: true }, Buffer.from('f'));
      return () => s.client.fs('moveNode', { nodeId: f.node!.id, targetPath: `${dir}/b`, idempotencyKey: `${dir}-key` });
    },
    async once(t, dir) {
      t.deepEqual(await versions(`${dir}/b`), [2, 1]);
      t.deepEqual(await names(dir), ['b']);
    },
  },
  {
    name: 'CopyNode',
    async prepare(dir) {
      await s.client.write({ path: `${dir}/a/f`, parents: true }, Buffer.from('f'));
      return () => s.client.fs('copyNode', { backendId: 1, path: `${dir}/a`, targetPath: `${dir}/c`, idempotencyKey: `${dir}-key` });
    },
    async once(t, dir) {
      t.deepEqual(await versions(`${dir}/c`), [1]);
      t.deepEqual(await versions(`${dir}/c/f`), [1]);
      t.deepEqual(await names(dir), ['a', 'a/f', 'c', 'c/f']);
    },
  },
  {
    name: 'CopyNode by node_id',
    async prepare(dir) {
      const f = await s.client.write({ path: `${dir}/a`, parents: true }, Buffer.from('f'));
      return () => s.client.fs('copyNode', { nodeId: f.node!.id, targetPath: `${dir}/c`, idempotencyKey: `${dir}-key` });
    },
    async once(t, dir) {
      t.deepEqual(await versions(`${dir}/c`), [1]);
    },
  },
  {
    name: 'DeleteNode',
    async prepare(dir) {
      await s.client.write({ path: `${dir}/a/f`, parents: true }, Buffer.from('f'));
      return () => s.client.fs('deleteNode', { backendId: 1, path: `${dir}/a`, recursive: true, idempotencyKey: `${dir}-key` });
    },
    async once(t, dir, r) {
      t.is(r.node.state, 4);
      t.is(await snapshotCount(r.node.id), 2);
      t.deepEqual(await listTree(path.join(s.root, dir)), []);
    },
  },
  {
    name: 'DeleteNode by node_id',
    async prepare(dir) {
      const f = await s.client.write({ path: `${dir}/a`, parents: true }, Buffer.from('f'));
      return () => s.client.fs('deleteNode', { nodeId: f.node!.id, idempotencyKey: `${dir}-key` });
    },
    async once(t, dir, r) {
      t.is(r.node.state, 4);
      t.is(await snapshotCount(r.node.id), 2);
      t.deepEqual(await listTree(path.join(s.root, dir)), []);
    },
  },
  {
    name: 'UpdateNodeMetadata',
    async prepare(dir) {
      await s.client.write({ path: `${dir}/f`, parents: true, metadata: { keep: true } }, Buffer.from('f'));
      return () => s.client.fs('updateNodeMetadata', { backendId: 1, path: `${dir}/f`, metadata: { tag: 'x' }, merge: true, idempotencyKey: `${dir}-key` });
    },
    async once(t, dir, r) {
      t.deepEqual(await versions(`${dir}/f`), [2, 1]);
      t.deepEqual(r.node.metadata, { keep: true, tag: 'x' });
    },
  },
  {
    name: 'UpdateNodeMetadata by node_id',
    async prepare(dir) {
      const f = await s.client.write({ path: `${dir}/f`, parents: true }, Buffer.from('f'));
      return () => s.client.fs('updateNodeMetadata', { nodeId: f.node!.id, metadata: { tag: 'y' }, idempotencyKey: `${dir}-key` });
    },
    async once(t, dir) {
      t.deepEqual(await versions(`${dir}/f`), [2, 1]);
    },
  },
];

async function oneSucceededEntry(t: ExecutionContext, key: string, journalId: number) {
  const entries = await entriesForKey(s, key);
  t.is(entries.length, 1, 'one journal entry for the key');
  t.like(entries[0], { id: journalId, status: 'SUCCEEDED' });
}

for (const [i, c] of CASES.entries()) {
  test(`${c.name}: the same key and parameters twice have one effect; the retry replays the result`, async (t) => {
    const dir = `seq-${i}`;
    const send = await c.prepare(dir);
    const first = await send();
    t.false(first.idempotentReplay);
    const second = await send();
    t.true(second.idempotentReplay);
    t.is(second.journalId, first.journalId);
    t.deepEqual(second.node, first.node);
    await c.once(t, dir, first);
    await oneSucceededEntry(t, `${dir}-key`, first.journalId);
    // A third retry, later, still replays the original result.
    const third = await send();
    t.true(third.idempotentReplay);
    t.deepEqual(third.node, first.node);
  });

  test(`${c.name}: 10 concurrent calls with one key have one effect; the others replay`, async (t) => {
    const dir = `par-${i}`;
    const send = await c.prepare(dir);
    const results = await Promise.all(Array.from({ length: 10 }, () => send()));
    const originals = results.filter((r) => !r.idempotentReplay);
    t.is(originals.length, 1, 'exactly one call ran the command');
    const [first] = originals;
    for (const r of results) {
      t.is(r.journalId, first.journalId);
      t.deepEqual(r.node, first.node);
    }
    await c.once(t, dir, first);
    await oneSucceededEntry(t, `${dir}-key`, first.journalId);
  });
}

test('a retry replays the original result even after the node moved on', async (t) => {
  await s.client.write({ path: 'later/f', parents: true }, Buffer.from('f'));
  const update = () => s.client.fs('updateNodeMetadata', { backendId: 1, path: 'later/f', metadata: { n: 1 }, idempotencyKey: 'later-key' });
  const first = await update();
  await s.client.fs('updateNodeMetadata', { backendId: 1, path: 'later/f', metadata: { n: 2 } });
  const retry = await update();
  t.true(retry.idempotentReplay);
  t.deepEqual(retry.node, first.node);
  const now = await s.client.fs('getNode', { backendId: 1, path: 'later/f' });
  t.is(now.node.version, 3);
  t.deepEqual(now.node.metadata, { n: 2 });
});

test('a retry by node_id replays the original result after the node moved or was deleted', async (t) => {
  const f = await s.client.write({ path: 'byid/f', parents: true }, Buffer.from('f'));
  const id = f.node!.id;
  const update = () => s.client.fs('updateNodeMetadata', { nodeId: id, metadata: { n: 1 }, idempotencyKey: 'byid-update' });
  const copy = () => s.client.fs('copyNode', { nodeId: id, targetPath: 'byid/copy', idempotencyKey: 'byid-copy' });
  const first = await update();
  const copied = await copy();
  await s.client.fs('moveNode', { nodeId: id, targetPath: 'byid/g' });
  t.deepEqual(await update(), { ...first, idempotentReplay: true });
  t.deepEqual(await copy(), { ...copied, idempotentReplay: true });
  await s.client.fs('deleteNode', { nodeId: id });
  t.deepEqual(await update(), { ...first, idempotentReplay: true });
  // Other parameters with the same key are still refused, moved or not.
  await reused(t, s.client.fs('updateNodeMetadata', { nodeId: id, metadata: { n: 2 }, idempotencyKey: 'byid-update' }));
  await reused(t, s.client.fs('updateNodeMetadata', { backendId: 1, path: 'byid/copy', metadata: { n: 1 }, idempotencyKey: 'byid-update' }));
  t.deepEqual(await versions('byid/copy'), [1]);
  t.deepEqual((await entriesForKey(s, 'byid-update')).map((e) => e.status), ['SUCCEEDED']);
});

test('the same key with other parameters is refused with IDEMPOTENCY_KEY_REUSED', async (t) => {
  await mkdir('reuse');
  const data = Buffer.from('content');
  await s.client.fs('createDirectory', { backendId: 1, path: 'reuse/a', idempotencyKey: 'reuse-dir' });
  await s.client.write({ path: 'reuse/f', idempotencyKey: 'reuse-file' }, data);
  await reused(t, s.client.fs('createDirectory', { backendId: 1, path: 'reuse/b', idempotencyKey: 'reuse-dir' }));
  await reused(t, s.client.fs('createDirectory', { backendId: 1, path: 'reuse/a', parents: true, idempotencyKey: 'reuse-dir' }));
  await reused(t, s.client.fs('deleteNode', { backendId: 1, path: 'reuse/a', idempotencyKey: 'reuse-dir' }));
  await reused(t, s.client.write({ path: 'reuse/f', idempotencyKey: 'reuse-file' }, Buffer.from('other content')));
  await reused(t, s.client.write({ path: 'reuse/f', idempotencyKey: 'reuse-file', overwrite: true }, data));
  await reused(t, s.client.write({ path: 'reuse/f', idempotencyKey: 'reuse-file', metadata: { a: 1 } }, data));
  await reused(t, s.client.fs('moveNode', { backendId: 1, path: 'reuse/f', targetPath: 'reuse/g', idempotencyKey: 'reuse-file' }));
  t.is((await entriesForKey(s, 'reuse-dir')).length, 1);
  t.is((await entriesForKey(s, 'reuse-file')).length, 1);
  t.deepEqual(await names('reuse'), ['a', 'f']);
  const long = await t.throwsAsync(s.client.fs('createDirectory', { backendId: 1, path: 'reuse/c', idempotencyKey: 'k'.repeat(257) }));
  t.is((long as ServiceError).code, status.INVALID_ARGUMENT);
  t.is(errorInfo(long as ServiceError).reason, 'IDEMPOTENCY_KEY_INVALID');
});

test('a key whose first attempt failed may be used again', async (t) => {
  await mkdir('retry');
  // Refused inside the command (journalled FAILED): the failure released the key.
  const create = () => s.client.fs('createDirectory', { backendId: 1, path: 'retry/p/x', idempotencyKey: 'retry-dir' });
  const failed = (await t.throwsAsync(create())) as ServiceError;
  t.is(errorInfo(failed).reason, 'PARENT_MISSING');
  await mkdir('retry/p');
  const ok = await create();
  t.false(ok.idempotentReplay);
  t.deepEqual((await entriesForKey(s, 'retry-dir')).map((e) => e.status), ['FAILED', 'SUCCEEDED']);
  t.true((await create()).idempotentReplay);

  // Released for other parameters too.
  await s.client.write({ path: 'retry/f' }, Buffer.from('v1'));
  const stale = await t.throwsAsync(s.client.write({ path: 'retry/f', expectedVersion: 7, idempotencyKey: 'retry-file' }, Buffer.from('v2')));
  t.is(errorInfo(stale as ServiceError).reason, 'VERSION_MISMATCH');
  const written = await s.client.write({ path: 'retry/f', expectedVersion: 1, idempotencyKey: 'retry-file' }, Buffer.from('v2'));
  t.false(written.idempotentReplay);
  t.is(written.node!.version, 2);

  // Refused before the journal (a checksum mismatch): the key was never taken.
  const other = sha256(Buffer.from('not this'));
  const mismatch = await t.throwsAsync(s.client.write({ path: 'retry/g', sha256: other, idempotencyKey: 'retry-g' }, Buffer.from('g')));
  t.is(errorInfo(mismatch as ServiceError).reason, 'CHECKSUM_MISMATCH');
  const g = await s.client.write({ path: 'retry/g', idempotencyKey: 'retry-g' }, Buffer.from('g'));
  t.false(g.idempotentReplay);
  t.deepEqual((await entriesForKey(s, 'retry-g')).map((e) => e.status), ['SUCCEEDED']);
});

test('keys are per principal: two principals use the same key independently', async (t) => {
  const alice = authed.client;
  const bob = new TestClient(authed.client.address, BOB);
  t.teardown(() => bob.close());
  t.is(alice.token, ALICE);
  await alice.fs('createDirectory', { backendId: 1, path: 'pp' });
  const a = await alice.fs('createDirectory', { backendId: 1, path: 'pp/alice', idempotencyKey: 'shared' });
  const b = await bob.fs('createDirectory', { backendId: 1, path: 'pp/bob', idempotencyKey: 'shared' });
  t.false(a.idempotentReplay);
  t.false(b.idempotentReplay);
  t.not(a.journalId, b.journalId);
  t.is(b.node.path, 'pp/bob');
  // Bob sending Alice's exact request runs it as his own command, not as a replay of hers.
  const bobAsAlice = await bob.fs('createDirectory', { backendId: 1, path: 'pp/x', parents: true, idempotencyKey: 'shared-2' });
  const aliceSame = await alice.fs('createDirectory', { backendId: 1, path: 'pp/x', parents: true, idempotencyKey: 'shared-2' });
  t.false(aliceSame.idempotentReplay);
  t.not(aliceSame.journalId, bobAsAlice.journalId);
  // Each retry replays its own principal's result.
  const aRetry = await alice.fs('createDirectory', { backendId: 1, path: 'pp/alice', idempotencyKey: 'shared' });
  const bRetry = await bob.fs('createDirectory', { backendId: 1, path: 'pp/bob', idempotencyKey: 'shared' });
  t.true(aRetry.idempotentReplay);
  t.is(aRetry.journalId, a.journalId);
  t.true(bRetry.idempotentReplay);
  t.is(bRetry.journalId, b.journalId);
  await reused(t, bob.fs('createDirectory', { backendId: 1, path: 'pp/alice', idempotencyKey: 'shared' }));
  const entries = await entriesForKey(authed, 'shared');
  t.deepEqual(entries.map((e) => [e.principal, e.status]), [
    ['alice', 'SUCCEEDED'],
    ['bob', 'SUCCEEDED'],
  ]);
  const nodes = (await nodeRows(authed)).filter((n) => (n.path as string).startsWith('pp/'));
  t.deepEqual(nodes.map((n) => n.path).sort(), ['pp/alice', 'pp/bob', 'pp/x']);
});

test('keys are per principal, not per backend: the same key on another backend is refused', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'filestore-two-backends-'));
  const file = path.join(dir, 'backends.yaml');
  writeFileSync(file, `backends:\n  - { id: 1, name: one, kind: local, root: ${dir}/one, create: true }\n  - { id: 2, name: two, kind: local, root: ${dir}/two, create: true }\n`);
  const two = await startTestServer({ FILESTORE_BACKENDS_PATH: file });
  try {
    const first = await two.client.fs('createDirectory', { backendId: 1, path: 'k', idempotencyKey: 'cross-backend-key' });
    const err = await t.throwsAsync<ServiceError>(two.client.fs('createDirectory', { backendId: 2, path: 'k', idempotencyKey: 'cross-backend-key' }));
    t.is(err?.code, status.FAILED_PRECONDITION);
    t.is(errorInfo(err!)?.reason, 'IDEMPOTENCY_KEY_REUSED');
    t.false(existsSync(path.join(dir, 'two', 'k')), 'nothing was created on backend 2');
    const replay = await two.client.fs('createDirectory', { backendId: 1, path: 'k', idempotencyKey: 'cross-backend-key' });
    t.true(replay.idempotentReplay);
    t.is(replay.journalId, first.journalId);
  } finally {
    await two.close();
    await rm(dir, { recursive: true, force: true });
  }
});
