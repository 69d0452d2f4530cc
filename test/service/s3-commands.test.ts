// Every file command through the gRPC API on an S3 backend (s3rver in this process): after each one
// the bucket, listed with the plain AWS SDK, holds exactly the API's tree (files byte-identical,
// a marker per directory, nothing else outside .filestore/, nothing left in staging or intents).
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { NodeKind, RollupState } from '../../gen/filestore/v1/node.js';
import { errorReason, sha256 } from '../support/client.js';
import { rollupsSettled } from '../support/rollups.js';
import { listKeys, startS3, storedLines, type S3Fixture } from '../support/s3.js';
import { makeTestEnv, startTestServer, type TestServer } from '../support/server.js';

const PREFIX = 'tenants/a';
let s3: S3Fixture;
let bucket: string;
let s: TestServer;

test.before(async () => {
  s3 = await startS3();
  bucket = await s3.bucket();
  const scratch = await makeTestEnv();
  const file = path.join(scratch.dataDir, 'backends.yaml');
  await writeFile(
    file,
    `backends:\n  - id: 1\n    name: archive\n    kind: s3\n    bucket: ${bucket}\n    prefix: ${PREFIX}\n    region: us-east-1\n    endpoint: ${s3.endpoint}\n    forcePathStyle: true\n`,
  );
  s = await startTestServer({ FILESTORE_BACKENDS_PATH: file });
});
test.after.always(async () => {
  await s?.close();
  await s3?.stop();
});

/** The API's tree and the bucket's, as "path/" for directories and "path size sha256" for files. */
async function bucketMatchesApi(t: ExecutionContext): Promise<void> {
  const api: string[] = [];
  for (const msg of await s.client.walk({ path: '' })) {
    for (const n of msg.nodes) api.push(n.kind === NodeKind.NODE_KIND_DIRECTORY ? `${n.path}/` : `${n.path} ${n.sizeBytes} ${n.sha256}`);
  }
  t.deepEqual(await listKeys(s3.client, bucket), await listKeys(s3.client, bucket, `${PREFIX}/`), 'nothing outside the prefix');
  const { stored, own } = await storedLines(s3.client, bucket, `${PREFIX}/`);
  t.deepEqual(stored.sort(), api.sort(), 'bucket ≡ API');
  t.deepEqual(own, [], 'nothing left in staging or intents');
}

test.serial('create, write, read, move, copy, update metadata and delete on S3', async (t) => {
  const c = s.client;
  const dir = await c.fs('createDirectory', { backendId: 1, path: 'docs/reports', parents: true });
  t.is(dir.node.version, 1);
  await bucketMatchesApi(t);

  const data = randomBytes(300_000);
  const written = await c.write({ path: 'docs/reports/q1.bin', metadata: { owner: 'ann' } }, data);
  t.is(written.node!.sha256, sha256(data));
  await bucketMatchesApi(t);
  t.true((await c.read({ path: 'docs/reports/q1.bin' })).data.equals(data));
  t.true((await c.read({ path: 'docs/reports/q1.bin', offset: 1000, length: 5000 })).data.equals(data.subarray(1000, 6000)));

  const big = randomBytes(20 * 1024 * 1024 + 3);
  await c.write({ path: 'docs/big.bin' }, big, 1024 * 1024);
  t.true((await c.read({ path: 'docs/big.bin' })).data.equals(big));
  await bucketMatchesApi(t);

  const replaced = await c.write({ path: 'docs/reports/q1.bin', overwrite: true }, Buffer.from('v2'));
  t.is(replaced.node!.version, 2);
  await bucketMatchesApi(t);

  const moved = await c.fs('moveNode', { backendId: 1, path: 'docs', targetPath: 'archive' });
  t.is(moved.node.path, 'archive');
  t.is((await c.fs('getNode', { backendId: 1, path: 'archive/reports/q1.bin' })).node.sizeBytes, 2);
  await bucketMatchesApi(t);

  const copied = await c.fs('copyNode', { backendId: 1, path: 'archive', targetPath: 'copy' });
  t.not(copied.node.id, moved.node.id);
  await bucketMatchesApi(t);
  await c.fs('moveNode', { backendId: 1, path: 'copy/reports/q1.bin', targetPath: 'copy/q1-moved.bin' });
  await bucketMatchesApi(t);

  const meta = await c.fs('updateNodeMetadata', { backendId: 1, path: 'copy/q1-moved.bin', metadata: { tag: 'x' }, merge: true });
  t.is(meta.node.version, 3, 'created, moved, then its metadata changed');

  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
  const root = await c.fs('getNode', { backendId: 1, path: '' });
  t.is(root.node.rollup.state, RollupState.ROLLUP_STATE_UP_TO_DATE);
  t.is(root.node.rollup.fileCount, 4);
  t.is(root.node.rollup.dirCount, 4);
  t.is(root.node.rollup.sizeBytes, 2 * (big.length + 2));

  await c.fs('deleteNode', { backendId: 1, path: 'copy/q1-moved.bin' });
  await c.fs('deleteNode', { backendId: 1, path: 'archive', recursive: true });
  await bucketMatchesApi(t);
  t.deepEqual((await c.fs('listChildren', { backendId: 1, path: '' })).nodes.map((n: { name: string }) => n.name), ['copy']);
});

test.serial('refusals on S3 change nothing in the bucket', async (t) => {
  const c = s.client;
  await c.fs('createDirectory', { backendId: 1, path: 'r' });
  await c.write({ path: 'r/f' }, Buffer.from('one'));
  const before = await listKeys(s3.client, bucket);
  const refusals: [Promise<unknown>, number, string][] = [
    [c.fs('createDirectory', { backendId: 1, path: 'r' }), status.ALREADY_EXISTS, 'NODE_EXISTS'],
    [c.write({ path: 'r/f' }, Buffer.from('two')), status.ALREADY_EXISTS, 'NODE_EXISTS'],
    [c.write({ path: 'nope/f' }, Buffer.from('x')), status.FAILED_PRECONDITION, 'PARENT_MISSING'],
    [c.write({ path: 'r/g', sha256: sha256(Buffer.from('other')) }, Buffer.from('x')), status.INVALID_ARGUMENT, 'CHECKSUM_MISMATCH'],
    [c.fs('moveNode', { backendId: 1, path: 'r', targetPath: 'r/inside' }), status.INVALID_ARGUMENT, 'TARGET_INSIDE_SOURCE'],
  ];
  for (const [call, code, reason] of refusals) {
    const err = await t.throwsAsync(call);
    t.is((err as { code?: number }).code, code, err?.message);
    t.is(errorReason(err as never), reason, err?.message);
  }
  t.deepEqual(await listKeys(s3.client, bucket), before);
  await bucketMatchesApi(t);
});

test.serial('a keyed retry on S3 replays the first outcome', async (t) => {
  const c = s.client;
  const first = await c.write({ path: 'keyed.txt', idempotencyKey: 'k-1' }, Buffer.from('once'));
  const again = await c.write({ path: 'keyed.txt', idempotencyKey: 'k-1' }, Buffer.from('once'));
  t.true(again.idempotentReplay);
  t.is(again.node!.id, first.node!.id);
  await bucketMatchesApi(t);
});
