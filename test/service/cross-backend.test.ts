// MoveNode and CopyNode between a local backend (1) and an S3 backend (2, s3rver in this process):
// files and 100-file trees both ways, the bytes checked, both backends' storage ≡ their API trees,
// rollups of both exact, one journal entry naming both backends, and a source changed behind the
// service's back refused without leaving anything.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { NodeKind, RollupState } from '../../gen/filestore/v1/node.js';
import { errorReason, sha256 } from '../support/client.js';
import { listTree } from '../support/observe.js';
import { rollupsSettled } from '../support/rollups.js';
import { listKeys, startS3, storedLines, type S3Fixture } from '../support/s3.js';
import { makeTestEnv, startTestServer, type TestServer } from '../support/server.js';

let s3: S3Fixture;
let bucket: string;
let s: TestServer;
let root: string;

test.before(async () => {
  s3 = await startS3();
  bucket = await s3.bucket();
  const scratch = await makeTestEnv();
  root = path.join(scratch.dataDir, 'local-root');
  await mkdir(root);
  const file = path.join(scratch.dataDir, 'backends.yaml');
  await writeFile(
    file,
    [
      'backends:',
      `  - { id: 1, name: disk, kind: local, root: "${root}" }`,
      `  - { id: 2, name: bucket, kind: s3, bucket: ${bucket}, prefix: x, region: us-east-1, endpoint: "${s3.endpoint}", forcePathStyle: true }`,
    ].join('\n'),
  );
  s = await startTestServer({ FILESTORE_BACKENDS_PATH: file });
});
test.after.always(async () => {
  await s?.close();
  await s3?.stop();
});

async function apiTree(backendId: number): Promise<string[]> {
  const out: string[] = [];
  for (const msg of await s.client.walk({ backendId, path: '' })) {
    for (const n of msg.nodes) out.push(n.kind === NodeKind.NODE_KIND_DIRECTORY ? `${n.path}/` : `${n.path} ${n.sizeBytes} ${n.sha256}`);
  }
  return out.sort();
}

async function storedTrees(t: ExecutionContext): Promise<void> {
  const disk = (await listTree(root, { skip: (r) => r === '.filestore' })).map((l) => {
    const [rel, kind, size, sha] = l.split('|');
    return kind === 'dir' ? `${rel}/` : `${rel} ${size} ${sha}`;
  }).sort();
  t.deepEqual(disk, await apiTree(1), 'local disk ≡ API');
  const { stored, own } = await storedLines(s3.client, bucket, 'x/');
  t.deepEqual(own, [], 'nothing left in the service\'s area of the bucket');
  t.deepEqual(stored.sort(), await apiTree(2), 'bucket ≡ API');
}

async function rollup(backendId: number) {
  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
  const r = (await s.client.fs('getNode', { backendId, path: '' })).node.rollup;
  return { state: r.state, files: r.fileCount, dirs: r.dirCount, bytes: r.sizeBytes };
}

const files = Array.from({ length: 100 }, (_, i) => ({ path: `${i % 3 ? 'a' : 'b'}/${i}.bin`, data: randomBytes(100 + i * 37) }));
const treeBytes = files.reduce((n, f) => n + f.data.length, 0);

test.serial('a file and a 100-file tree copied and moved local → S3 → local, bytes and rollups exact on both sides', async (t) => {
  const c = s.client;
  const big = randomBytes(9 * 1024 * 1024 + 11);
  await c.write({ backendId: 1, path: 'big.bin' }, big, 1024 * 1024);
  const copied = await c.fs('copyNode', { backendId: 1, path: 'big.bin', targetBackendId: 2, targetPath: 'big.bin' });
  t.is(copied.node.backendId, 2);
  t.is(copied.node.sha256, sha256(big));
  t.true((await c.read({ backendId: 2, path: 'big.bin' })).data.equals(big));
  await storedTrees(t);

  await c.fs('createDirectory', { backendId: 1, path: 'tree/a', parents: true });
  await c.fs('createDirectory', { backendId: 1, path: 'tree/b' });
  for (const f of files) await c.write({ backendId: 1, path: `tree/${f.path}` }, f.data);
  const moved = await c.fs('moveNode', { backendId: 1, path: 'tree', targetBackendId: 2, targetPath: 'moved' });
  t.is(moved.node.backendId, 2);
  t.is(moved.node.path, 'moved');
  await storedTrees(t);
  t.like(await rollup(1), { state: RollupState.ROLLUP_STATE_UP_TO_DATE, files: 1, dirs: 0, bytes: big.length });
  t.like(await rollup(2), { state: RollupState.ROLLUP_STATE_UP_TO_DATE, files: 101, dirs: 3, bytes: big.length + treeBytes });
  const entry = (await c.js('getJournalEntry', { backendId: 1, id: moved.journalId })).entry;
  t.like(entry, { command: 'MoveNode', backendId: 1, targetBackendId: 2, path: 'tree', targetPath: 'moved' });

  await c.fs('copyNode', { backendId: 2, path: 'moved', targetBackendId: 1, targetPath: 'back-copy' });
  await c.fs('moveNode', { backendId: 2, path: 'big.bin', targetBackendId: 1, targetPath: 'big.bin', overwrite: true });
  await storedTrees(t);
  t.like(await rollup(1), { files: 101, dirs: 3, bytes: big.length + treeBytes });
  t.like(await rollup(2), { files: 100, dirs: 3, bytes: treeBytes });
  for (const f of files.slice(0, 5)) t.true((await c.read({ backendId: 1, path: `back-copy/${f.path}` })).data.equals(f.data));
  const back = await c.fs('moveNode', { backendId: 2, path: 'moved', targetBackendId: 1, targetPath: 'moved-back' });
  t.is(back.node.backendId, 1);
  await storedTrees(t);
  t.like(await rollup(2), { files: 0, dirs: 0, bytes: 0 });
  t.like(await rollup(1), { files: 201, dirs: 6, bytes: big.length + 2 * treeBytes });
});

test.serial('a source changed behind the service is refused (SOURCE_CONTENT_CHANGED) and nothing is left on the target', async (t) => {
  const c = s.client;
  await c.write({ backendId: 1, path: 'changed.txt' }, Buffer.from('recorded'));
  await writeFile(path.join(root, 'changed.txt'), 'edited!!'); // same size, other bytes
  const before = await apiTree(2);
  const err = await t.throwsAsync(c.fs('copyNode', { backendId: 1, path: 'changed.txt', targetBackendId: 2, targetPath: 'changed.txt' }));
  t.is((err as { code?: number }).code, status.FAILED_PRECONDITION);
  t.is(errorReason(err as never), 'SOURCE_CONTENT_CHANGED');
  t.deepEqual(await apiTree(2), before);
  t.deepEqual(await listKeys(s3.client, bucket, 'x/.filestore/'), []);
});
