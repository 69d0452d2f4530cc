// The S3 backend against a real S3 API (s3rver in this process): the backend contract, with and
// without a key prefix, and what only S3 has (the bucket layout, implicit directories, exact-key
// existence, the sha256 metadata).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { S3Backend } from '../../src/backends/s3.js';
import { chunked, put, readAll, rejects, runBackendContract, sha256, text } from './contract.js';
import { listKeys, startS3, type S3Fixture } from '../support/s3.js';

let s3: S3Fixture;
test.before(async () => {
  s3 = await startS3();
});
test.after.always(async () => {
  await s3?.stop();
});

async function openBackend(bucket: string, prefix?: string): Promise<S3Backend> {
  const b = new S3Backend({ id: 7, bucket, prefix, region: 'us-east-1', instanceId: 'test-instance', client: s3.client });
  await b.open();
  return b;
}

let shared: string | undefined;
runBackendContract('s3 (prefix)', async () => {
  shared ??= await s3.bucket();
  const backend = await openBackend(shared, `tenants/${randomBytes(4).toString('hex')}`);
  return { backend, cleanup: async () => {} };
});
runBackendContract('s3 (whole bucket)', async () => ({ backend: await openBackend(await s3.bucket()), cleanup: async () => {} }));

test('s3: the bucket holds the exact bytes at <prefix>/<path>, markers for directories, and the service\'s own keys only below .filestore/', async (t) => {
  const bucket = await s3.bucket();
  const b = await openBackend(bucket, 'tenants/a');
  await b.mkdir('docs');
  const data = randomBytes(200_000);
  await put(b, 'docs/report.bin', data);
  await b.mkdir('docs/empty');
  t.deepEqual(await listKeys(s3.client, bucket), ['tenants/a/docs/', 'tenants/a/docs/empty/', 'tenants/a/docs/report.bin']);
  const got = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'tenants/a/docs/report.bin' }));
  t.true(Buffer.from(await got.Body!.transformToByteArray()).equals(data), 'byte-identical (no checksum framing in the object)');
  const head = await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'tenants/a/docs/report.bin' }));
  t.is(head.ContentLength, 200_000);
  t.is(head.Metadata?.sha256, sha256(data));
  await b.writeIntent(41, '{"id":41}');
  t.deepEqual(await listKeys(s3.client, bucket, 'tenants/a/.filestore/'), ['tenants/a/.filestore/intents/test-instance/41']);
  await b.intentDone(41);
  t.deepEqual(await listKeys(s3.client, bucket, 'tenants/a/.filestore/'), []);
});

test('s3: existence is by exact key: "a" is not "a.txt" nor "a/b"; keys without a marker make an implicit directory', async (t) => {
  const bucket = await s3.bucket();
  const b = await openBackend(bucket);
  await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'a.txt', Body: 'x' }));
  await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'implicit/deep/f', Body: 'yz' }));
  t.is(await b.stat('a'), null);
  t.like(await b.stat('implicit'), { kind: 'directory' });
  t.like(await b.stat('implicit/deep'), { kind: 'directory' });
  t.like(await b.stat('implicit/deep/f'), { kind: 'file', sizeBytes: 2 });
  await b.mkdir('implicit/deep/sub'); // an implicit parent is a parent
  await rejects(t, b.mkdir('implicit'), 'ALREADY_EXISTS', 'BACKEND_PATH_EXISTS');
  await rejects(t, b.remove('implicit'), 'FAILED_PRECONDITION', 'BACKEND_DIR_NOT_EMPTY');
  t.is(await text(b, 'implicit/deep/f'), 'yz');
  await b.mkdir('a');
  t.like(await b.stat('a'), { kind: 'directory' });
  t.like(await b.stat('a.txt'), { kind: 'file' });
});

test('s3: an upload above the part size goes up in parts and reads back whole and in ranges', async (t) => {
  const b = await openBackend(await s3.bucket(), 'p');
  const data = randomBytes(20 * 1024 * 1024 + 5);
  const key = b.newStagingKey();
  const staged = await b.stage(key, chunked(data, [1024 * 1024]));
  t.is(staged.sha256, sha256(data));
  await b.publish(key, 'big');
  t.true((await readAll(b.read('big'))).equals(data));
  t.true((await readAll(b.read('big', { offset: 9 * 1024 * 1024, length: 3 }))).equals(data.subarray(9 * 1024 * 1024, 9 * 1024 * 1024 + 3)));
});

test('s3: a bucket that does not exist is refused at open with what to fix', async (t) => {
  const b = new S3Backend({ id: 9, bucket: 'no-such-bucket-here', region: 'us-east-1', instanceId: 'x', client: s3.client });
  const err = await t.throwsAsync(b.open());
  t.like(err, { code: 'FAILED_PRECONDITION', reason: 'BACKEND_ROOT_MISSING' });
  t.regex(err!.message, /bucket "no-such-bucket-here" does not exist/);
});

test('s3: an upload over maxBytes above the part size is refused as UPLOAD_TOO_LARGE and leaves nothing staged', async (t) => {
  const b = await openBackend(await s3.bucket(), 'big');
  const key = b.newStagingKey();
  await rejects(t, b.stage(key, chunked(randomBytes(20 * 1024 * 1024), [1024 * 1024]), { maxBytes: 10 * 1024 * 1024 }), 'RESOURCE_EXHAUSTED', 'UPLOAD_TOO_LARGE');
  t.false(await b.stagingExists(key));
  t.deepEqual(await b.listStaging(), []);
});

// Half-done steps as a crash leaves them (made here with the plain SDK), and what settling makes of them.
test('s3: settling a cut-off tree move finishes it once the copy is whole, and takes a partial copy back', async (t) => {
  const bucket = await s3.bucket();
  const b = await openBackend(bucket, 'st');
  await b.mkdir('src');
  for (const n of ['1', '2', '3']) await put(b, `src/${n}`, n);
  // The copy whole (its marker written last), the source half deleted.
  for (const n of ['1', '2', '3']) await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: `st/dst/${n}`, Body: n }));
  await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'st/dst/', Body: '', ContentLength: 0 }));
  await b.remove('src/1');
  await b.settleRename('src', 'dst');
  t.is(await b.stat('src'), null);
  t.is(await text(b, 'dst/3'), '3');
  // A partial copy (no marker): taken back, the source untouched.
  await b.mkdir('again');
  await put(b, 'again/x', 'x');
  await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'st/there/x', Body: 'x' }));
  await b.settleRename('again', 'there');
  t.is(await b.stat('there'), null);
  t.is(await text(b, 'again/x'), 'x');
  // A file copied, its source not yet deleted: the delete is finished.
  await put(b, 'f', 'same');
  await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'st/g', Body: 'same' }));
  await b.settleRename('f', 'g');
  t.is(await b.stat('f'), null);
  t.is(await text(b, 'g'), 'same');
  // A file whose rename never began: nothing changes.
  await put(b, 'h', 'one');
  await put(b, 'i', 'two');
  await b.settleRename('h', 'i');
  t.is(await text(b, 'h'), 'one');
  t.is(await text(b, 'i'), 'two');
});

test('s3: settling a cut-off delete (a tree into staging) finishes it once the trash is whole, and drops a partial trash', async (t) => {
  const bucket = await s3.bucket();
  const b = await openBackend(bucket, 'sd');
  await b.mkdir('t');
  for (const n of ['1', '2']) await put(b, `t/${n}`, n);
  const whole = b.newStagingKey();
  await b.stageCopy('t', whole); // the trash, whole
  await b.remove('t/1'); // the deletes begun
  await b.settleUnpublish('t', whole);
  t.is(await b.stat('t'), null);
  t.true(await b.stagingExists(whole));

  await b.mkdir('u');
  await put(b, 'u/1', '1');
  const partial = b.newStagingKey();
  await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: `sd/.filestore/staging/${partial}/1`, Body: '1' }));
  await b.settleUnpublish('u', partial);
  t.false(await b.stagingExists(partial));
  t.is(await text(b, 'u/1'), '1');
});

test('s3: settling a cut-off publish of a file removes the staged object once the copy landed, and only then', async (t) => {
  const b = await openBackend(await s3.bucket(), 'sp');
  await put(b, 'f', 'old');
  const key = b.newStagingKey();
  await b.stage(key, chunked(Buffer.from('new')));
  await b.settlePublish(key, 'f'); // not copied yet: nothing changes
  t.true(await b.stagingExists(key));
  t.is(await text(b, 'f'), 'old');
  const copied = b.newStagingKey();
  await b.stage(copied, chunked(Buffer.from('old')));
  await b.settlePublish(copied, 'f'); // the object at the path is the staged one: the copy happened
  t.false(await b.stagingExists(copied));
});
