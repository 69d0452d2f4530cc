// The contract every Backend passes: each backend's test file calls
// runBackendContract with a factory that returns a fresh, opened backend.
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Backend } from '../../src/backends/backend.js';
import type { ErrorCode } from '../../src/errors/domain-error.js';

export interface BackendFixture {
  backend: Backend;
  cleanup: () => Promise<void>;
}
export type MakeBackend = () => Promise<BackendFixture>;

// --- helpers, exported for backend-specific tests ---

export async function* chunked(data: Uint8Array, sizes: number[] = [65536]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let i = 0; offset < data.byteLength; i++) {
    const size = sizes[i % sizes.length]!;
    yield data.slice(offset, offset + size); // a fresh copy, as a network source would yield
    offset += size;
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Stages `data` and publishes it at `path`. */
export async function put(backend: Backend, path: string, data: string | Uint8Array): Promise<void> {
  const key = backend.newStagingKey();
  await backend.stage(key, chunked(typeof data === 'string' ? Buffer.from(data) : data));
  await backend.publish(key, path);
}

export const text = async (backend: Backend, path: string): Promise<string> => (await readAll(backend.read(path))).toString();

export async function rejects(t: ExecutionContext, promise: Promise<unknown>, code: ErrorCode, reason: string): Promise<void> {
  const err = await t.throwsAsync(promise);
  t.like(err, { name: 'FilestoreError', code, reason }, err?.message);
}

async function* failingAfter(bytes: number): AsyncGenerator<Uint8Array> {
  yield randomBytes(bytes);
  throw new Error('client went away');
}

// --- the suite ---

export function runBackendContract(name: string, makeBackend: MakeBackend): void {
  const it = (title: string, body: (t: ExecutionContext, backend: Backend) => Promise<void>) =>
    test(`${name} contract: ${title}`, async (t) => {
      const { backend, cleanup } = await makeBackend();
      try {
        await body(t, backend);
      } finally {
        await cleanup();
      }
    });

  it('stage + publish + read back a small file', async (t, b) => {
    const key = b.newStagingKey();
    t.not(key, b.newStagingKey());
    const staged = await b.stage(key, chunked(Buffer.from('hello, world')));
    t.deepEqual(staged, { key, sizeBytes: 12, sha256: sha256(Buffer.from('hello, world')) });
    t.true(await b.stagingExists(key));
    await b.publish(key, 'hello.txt');
    t.false(await b.stagingExists(key));
    t.is(await text(b, 'hello.txt'), 'hello, world');
    t.like(await b.stat('hello.txt'), { kind: 'file', sizeBytes: 12 });
  });

  it('a 5 MiB random upload in odd-sized chunks reads back byte-identical', async (t, b) => {
    const data = randomBytes(5 * 1024 * 1024 + 17);
    const key = b.newStagingKey();
    const staged = await b.stage(key, chunked(data, [1, 7919, 65537, 3, 131071, 4096]));
    t.is(staged.sizeBytes, data.byteLength);
    t.is(staged.sha256, sha256(data));
    await b.publish(key, 'big.bin');
    t.true((await readAll(b.read('big.bin'))).equals(data));
    const chunks: Buffer[] = [];
    for await (const chunk of b.read('big.bin', { chunkSize: 100_000 })) chunks.push(chunk as Buffer);
    t.true(chunks.every((c) => c.byteLength <= 100_000));
    t.true(Buffer.concat(chunks).equals(data));
  });

  it('an empty upload is a valid empty file', async (t, b) => {
    const key = b.newStagingKey();
    t.deepEqual(await b.stage(key, chunked(Buffer.alloc(0))), { key, sizeBytes: 0, sha256: sha256(Buffer.alloc(0)) });
    await b.publish(key, 'empty');
    t.is((await readAll(b.read('empty'))).byteLength, 0);
    t.like(await b.stat('empty'), { kind: 'file', sizeBytes: 0 });
  });

  it('ranged reads', async (t, b) => {
    const data = randomBytes(10_000);
    await put(b, 'r.bin', data);
    const range = async (offset?: number, length?: number) => readAll(b.read('r.bin', { offset, length, chunkSize: 999 }));
    t.true((await range(1234)).equals(data.subarray(1234)));
    t.true((await range(1234, 100)).equals(data.subarray(1234, 1334)));
    t.true((await range(0, 10_000)).equals(data));
    t.is((await range(10_000)).byteLength, 0, 'offset at the end');
    t.is((await range(20_000)).byteLength, 0, 'offset past the end');
    t.true((await range(9_990, 1_000)).equals(data.subarray(9_990)), 'length past the end');
    t.is((await range(5, 0)).byteLength, 0, 'length 0');
  });

  it('publish replaces an existing file', async (t, b) => {
    await put(b, 'f.txt', 'old contents');
    await put(b, 'f.txt', 'new');
    t.is(await text(b, 'f.txt'), 'new');
    t.like(await b.stat('f.txt'), { sizeBytes: 3 });
    t.deepEqual(await b.listStaging(), []);
  });

  it('publish refuses a directory target, a missing parent and a missing staging object', async (t, b) => {
    await b.mkdir('d');
    const key = b.newStagingKey();
    await b.stage(key, chunked(Buffer.from('x')));
    await rejects(t, b.publish(key, 'd'), 'ALREADY_EXISTS', 'BACKEND_PATH_EXISTS');
    await rejects(t, b.publish(key, 'missing/f'), 'FAILED_PRECONDITION', 'BACKEND_PARENT_MISSING');
    t.true(await b.stagingExists(key), 'a refused publish keeps the staging object');
    await rejects(t, b.publish(b.newStagingKey(), 'f'), 'FAILED_PRECONDITION', 'BACKEND_PATH_MISSING');
    t.is(await b.stat('f'), null);
  });

  it('a failing source leaves no staging object', async (t, b) => {
    const key = b.newStagingKey();
    await t.throwsAsync(b.stage(key, failingAfter(300_000)), { message: 'client went away' });
    t.false(await b.stagingExists(key));
    t.deepEqual(await b.listStaging(), []);
  });

  it('maxBytes: exactly the limit passes, one byte more is refused and leaves nothing', async (t, b) => {
    const data = randomBytes(100_000);
    const ok = b.newStagingKey();
    t.is((await b.stage(ok, chunked(data, [30_000]), { maxBytes: 100_000 })).sizeBytes, 100_000);
    const key = b.newStagingKey();
    await rejects(t, b.stage(key, chunked(data, [30_000]), { maxBytes: 99_999 }), 'RESOURCE_EXHAUSTED', 'UPLOAD_TOO_LARGE');
    t.false(await b.stagingExists(key));
    t.deepEqual(await b.listStaging(), [ok]);
  });

  it('concurrent uploads into one directory', async (t, b) => {
    await b.mkdir('many');
    const files = Array.from({ length: 40 }, (_, i) => randomBytes(1000 + i));
    await Promise.all(files.map((data, i) => put(b, `many/${i}`, data)));
    for (const [i, data] of files.entries()) t.true((await readAll(b.read(`many/${i}`))).equals(data));
  });

  it('mkdir', async (t, b) => {
    await b.mkdir('a');
    await b.mkdir('a/b');
    t.like(await b.stat('a/b'), { kind: 'directory' });
    await rejects(t, b.mkdir('a'), 'ALREADY_EXISTS', 'BACKEND_PATH_EXISTS');
    await rejects(t, b.mkdir('x/y'), 'FAILED_PRECONDITION', 'BACKEND_PARENT_MISSING');
    await put(b, 'file', 'f');
    await rejects(t, b.mkdir('file'), 'ALREADY_EXISTS', 'BACKEND_PATH_EXISTS');
    await rejects(t, b.mkdir('file/sub'), 'FAILED_PRECONDITION', 'BACKEND_KIND_MISMATCH');
  });

  it('stat of a file, a directory, the root and missing paths', async (t, b) => {
    await b.mkdir('dir');
    await put(b, 'dir/f', 'abc');
    const file = await b.stat('dir/f');
    t.is(file?.kind, 'file');
    t.is(file?.sizeBytes, 3);
    t.true(Math.abs(file!.mtimeMs - Date.now()) < 60_000);
    t.like(await b.stat('dir'), { kind: 'directory' });
    t.like(await b.stat(''), { kind: 'directory' });
    t.is(await b.stat('nope'), null);
    t.is(await b.stat('nope/deeper'), null);
    t.is(await b.stat('dir/f/below-a-file'), null);
  });

  it('reading a missing path or a directory fails', async (t, b) => {
    await b.mkdir('d');
    await rejects(t, readAll(b.read('nope')), 'FAILED_PRECONDITION', 'BACKEND_PATH_MISSING');
    await rejects(t, readAll(b.read('d')), 'FAILED_PRECONDITION', 'BACKEND_KIND_MISMATCH');
  });

  it('rename a file and a tree', async (t, b) => {
    await put(b, 'f', 'one');
    await b.rename('f', 'g');
    t.is(await b.stat('f'), null);
    t.is(await text(b, 'g'), 'one');
    await b.mkdir('src');
    await b.mkdir('src/sub');
    await put(b, 'src/sub/x', 'x');
    await b.mkdir('dst');
    await b.rename('src', 'dst/moved');
    t.is(await b.stat('src'), null);
    t.is(await text(b, 'dst/moved/sub/x'), 'x');
  });

  it('rename replaces a file but never a directory', async (t, b) => {
    await put(b, 'a', 'a');
    await put(b, 'b', 'b');
    await b.rename('a', 'b');
    t.is(await text(b, 'b'), 'a');
    await b.mkdir('d1');
    await b.mkdir('d2');
    await rejects(t, b.rename('d1', 'd2'), 'ALREADY_EXISTS', 'BACKEND_PATH_EXISTS');
    await rejects(t, b.rename('b', 'd2'), 'ALREADY_EXISTS', 'BACKEND_PATH_EXISTS');
    t.like(await b.stat('d1'), { kind: 'directory' });
    await rejects(t, b.rename('missing', 'z'), 'FAILED_PRECONDITION', 'BACKEND_PATH_MISSING');
    await rejects(t, b.rename('b', 'no/such/parent'), 'FAILED_PRECONDITION', 'BACKEND_PARENT_MISSING');
    t.is(await text(b, 'b'), 'a');
  });

  it('unpublish moves a file or tree to staging; publish undoes it; discard drops it', async (t, b) => {
    await put(b, 'f', 'keep me');
    const k1 = b.newStagingKey();
    await b.unpublish('f', k1);
    t.is(await b.stat('f'), null);
    t.true(await b.stagingExists(k1));
    await b.publish(k1, 'f');
    t.is(await text(b, 'f'), 'keep me');

    await b.mkdir('t');
    await put(b, 't/inner', 'i');
    const k2 = b.newStagingKey();
    await b.unpublish('t', k2);
    t.is(await b.stat('t'), null);
    t.deepEqual(await b.listStaging(), [k2]);
    await b.discard(k2);
    t.false(await b.stagingExists(k2));
    await b.discard(k2); // absent: no error
    await rejects(t, b.unpublish('gone', b.newStagingKey()), 'FAILED_PRECONDITION', 'BACKEND_PATH_MISSING');
  });

  it('stageCopy of a tree is independent of its source afterwards', async (t, b) => {
    await b.mkdir('a');
    await b.mkdir('a/b');
    await b.mkdir('a/empty');
    await put(b, 'a/b/c.txt', 'c');
    await put(b, 'a/d.txt', 'd');
    const key = b.newStagingKey();
    await b.stageCopy('a', key);
    await b.publish(key, 'copy');
    await put(b, 'a/d.txt', 'changed');
    await b.remove('a/b/c.txt');
    t.is(await text(b, 'copy/d.txt'), 'd');
    t.is(await text(b, 'copy/b/c.txt'), 'c');
    t.like(await b.stat('copy/empty'), { kind: 'directory' });
    await put(b, 'copy/d.txt', 'copy changed');
    t.is(await text(b, 'a/d.txt'), 'changed');
  });

  it('stageCopy of a single file, and of a missing path', async (t, b) => {
    await put(b, 'f', 'data');
    const key = b.newStagingKey();
    await b.stageCopy('f', key);
    await b.publish(key, 'f2');
    t.is(await text(b, 'f2'), 'data');
    t.is(await text(b, 'f'), 'data');
    const missing = b.newStagingKey();
    await rejects(t, b.stageCopy('nope', missing), 'FAILED_PRECONDITION', 'BACKEND_PATH_MISSING');
    t.false(await b.stagingExists(missing));
  });

  it('remove a file, an empty directory, an absent path; refuse a non-empty directory', async (t, b) => {
    await put(b, 'f', 'x');
    await b.mkdir('d');
    await b.remove('f');
    await b.remove('d');
    t.is(await b.stat('f'), null);
    t.is(await b.stat('d'), null);
    await b.remove('never-was');
    await b.remove('never/was');
    await b.mkdir('full');
    await put(b, 'full/x', 'x');
    await rejects(t, b.remove('full'), 'FAILED_PRECONDITION', 'BACKEND_DIR_NOT_EMPTY');
  });

  it('listStaging lists staged keys until they are published or discarded', async (t, b) => {
    t.deepEqual(await b.listStaging(), []);
    const keys = [b.newStagingKey(), b.newStagingKey(), b.newStagingKey()];
    for (const key of keys) await b.stage(key, chunked(Buffer.from(key)));
    t.deepEqual((await b.listStaging()).sort(), [...keys].sort());
    await b.publish(keys[0]!, 'p');
    await b.discard(keys[1]!);
    t.deepEqual(await b.listStaging(), [keys[2]]);
  });
}
