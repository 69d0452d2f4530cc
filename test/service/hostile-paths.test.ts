// Malformed and hostile paths through every RPC that takes one (ARCHITECTURE §3 invariant 7, §4 path
// rules): each is refused with INVALID_ARGUMENT or PERMISSION_DENIED, has no effect inside the root,
// and nothing outside the root changes: the backend root sits three levels deep in a sandbox whose
// whole tree (with tempting targets such as above/etc/passwd) is compared before and after, and a
// canary directory elsewhere in the temp directory is the target of the symlinks.
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import {
  CopyNodeRequest,
  CreateDirectoryRequest,
  GetNodeRequest,
  MoveNodeRequest,
  ReadFileRequest,
  WriteFileRequest,
} from '../../gen/filestore/v1/filestore_service.js';
import { Claims, codeName, errorInfo, listTree, rawWrite, refused, type Refusal, type Scope } from '../support/observe.js';
import { startTestServer, type TestServer } from '../support/server.js';

const MARK = 'fs-hostile-mark';

let s: TestServer;
let sandbox: string; // sandbox/above/root is backend 1's root
let root: string;
let canary: string; // outside the sandbox: the symlinks' target
let aboveBefore: string[];
let canaryBefore: string[];
let passwdBefore: string;
const claims = new Claims();

const passwd = () => (existsSync('/etc/passwd') ? createHash('sha256').update(readFileSync('/etc/passwd')).digest('hex') : '');
const treeAbove = () => listTree(sandbox, { opaque: (r) => r === 'above/root' });

test.before(async () => {
  sandbox = await mkdtemp(path.join(os.tmpdir(), 'filestore-hostile-'));
  root = path.join(sandbox, 'above', 'root');
  await mkdir(path.join(sandbox, 'above', 'etc'), { recursive: true });
  await writeFile(path.join(sandbox, 'above', 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  await writeFile(path.join(sandbox, 'above', 'sibling.txt'), 'next to the root');
  await writeFile(path.join(sandbox, 'top.txt'), 'two levels above the root');
  const backends = path.join(sandbox, 'backends.json');
  await writeFile(backends, JSON.stringify({ backends: [{ id: 1, name: 'sandboxed', kind: 'local', root, create: true }] }));
  canary = await mkdtemp(path.join(os.tmpdir(), 'filestore-canary-'));
  await writeFile(path.join(canary, 'secret.txt'), 'canary secret');
  await writeFile(path.join(canary, 'f'), 'canary f');
  await mkdir(path.join(canary, 'dir'));
  await writeFile(path.join(canary, 'dir', 'inner.txt'), 'canary inner');
  s = await startTestServer({ FILESTORE_BACKENDS_PATH: backends });
  aboveBefore = await treeAbove();
  canaryBefore = await listTree(canary);
  passwdBefore = passwd();
});

test.after('nothing outside the root changed and nothing is left in staging', async (t) => {
  await outsideUntouched(t);
  t.deepEqual(await readdir(path.join(root, '.filestore', 'staging', 'test')), []);
});
test.after.always(async () => {
  await s?.close();
  if (sandbox) await rm(sandbox, { recursive: true, force: true });
  if (canary) await rm(canary, { recursive: true, force: true });
});

/** Nothing above the root, in the canary, or at the places a traversal would reach changed. */
async function outsideUntouched(t: ExecutionContext): Promise<void> {
  t.deepEqual(await treeAbove(), aboveBefore, 'the tree above the root changed');
  t.deepEqual(await listTree(canary), canaryBefore, 'the canary outside the root changed');
  t.is(passwd(), passwdBefore);
  for (const dir of ['/', '/tmp', os.tmpdir(), '/etc', path.dirname(sandbox), path.dirname(canary)]) {
    t.false(existsSync(path.join(dir, MARK)), `${dir}/${MARK} appeared`);
  }
}

async function setup(prefix: string): Promise<Scope> {
  claims.claim(prefix);
  await s.client.write({ path: `${prefix}/src.txt`, parents: true }, Buffer.from(`source of ${prefix}`));
  return { s, claims, prefix, root };
}

// --- well-formed UTF-8 that breaks the path rules ---

const segments4097 = `${Array(16).fill('q'.repeat(255)).join('/')}/x`;

interface Hostile {
  label: string;
  path: string;
  reason?: 'PATH_INVALID' | 'PATH_RESERVED';
  /** Also try it below the test's own directory (reserved names are only reserved at the top). */
  nested?: boolean;
}

const HOSTILE: Hostile[] = [
  { label: 'parent "..", alone', path: '..' },
  { label: 'parent "../x"', path: `../${MARK}` },
  { label: 'two levels up', path: `../../${MARK}` },
  { label: 'a/../../etc', path: `a/../../etc/${MARK}` },
  { label: 'a/../..', path: 'a/../..' },
  { label: 'deep climb a/b/../../../x', path: `a/b/../../../${MARK}` },
  { label: 'trailing ..', path: 'a/b/..' },
  { label: 'dot "."', path: '.' },
  { label: 'dot segment ./x', path: `./${MARK}` },
  { label: 'inner dot a/./x', path: `a/./${MARK}` },
  { label: 'absolute /tmp/x', path: `/tmp/${MARK}` },
  { label: 'absolute /etc/passwd', path: '/etc/passwd' },
  { label: 'slash alone', path: '/' },
  { label: 'leading //', path: `//${MARK}` },
  { label: 'NUL', path: `a\u0000${MARK}` },
  { label: 'NUL then traversal', path: `a\u0000/../../${MARK}` },
  { label: 'newline', path: `a\n${MARK}` },
  { label: 'carriage return', path: `a\r${MARK}` },
  { label: 'tab', path: `a\t${MARK}` },
  { label: 'ANSI escape', path: `\u001b[31m${MARK}` },
  { label: 'DEL', path: `a\u007f${MARK}` },
  { label: 'C1 control NEL', path: `a\u0085${MARK}` },
  { label: 'a//b', path: `a//${MARK}` },
  { label: 'trailing slash', path: `${MARK}/` },
  { label: '256-byte ASCII name', path: 'n'.repeat(256) },
  { label: '256-byte UTF-8 name', path: 'é'.repeat(128) },
  { label: '4097-byte path', path: segments4097 },
  { label: 'bidi override RLO', path: `evil\u202Etxt.exe` },
  { label: 'bidi embedding LRE', path: `a\u202A${MARK}` },
  { label: 'bidi isolate', path: `\u2066${MARK}\u2069` },
  { label: 'backslash', path: `a\\${MARK}` },
  { label: 'backslash traversal', path: `..\\..\\${MARK}` },
  { label: 'drive letter', path: `C:\\${MARK}` },
  { label: 'replacement character U+FFFD', path: `a\uFFFD${MARK}` },
  { label: 'lone surrogate (sent as U+FFFD)', path: `a\uD800${MARK}` },
  { label: 'not NFC', path: `e\u0301${MARK}` },
  { label: '.filestore/x', path: `.filestore/${MARK}`, reason: 'PATH_RESERVED', nested: false },
  { label: '.filestore', path: '.filestore', reason: 'PATH_RESERVED', nested: false },
  { label: 'the staging area', path: '.filestore/staging/test/x', reason: 'PATH_RESERVED', nested: false },
  { label: '.FILESTORE (case)', path: `.FILESTORE/${MARK}`, reason: 'PATH_RESERVED', nested: false },
];

test('the table has at least 30 distinct hostile paths', (t) => {
  t.true(new Set(HOSTILE.map((h) => h.path)).size >= 30);
  t.is(Buffer.byteLength(segments4097), 4097);
  t.is(Buffer.byteLength('é'.repeat(128)), 256);
});

for (const [i, h] of HOSTILE.entries()) {
  test(`hostile path refused by every RPC: ${h.label}`, async (t) => {
    const prefix = `hp-${i}`;
    const scope = await setup(prefix);
    const src = `${prefix}/src.txt`;
    const want: Refusal = { code: status.INVALID_ARGUMENT, reason: h.reason ?? 'PATH_INVALID', journal: 'none' };
    const variants = h.nested === false ? [h.path] : [h.path, `${prefix}/${h.path}`];
    for (const bad of variants) {
      await refused(t, scope, want, () => s.client.fs('createDirectory', { backendId: 1, path: bad, parents: true }));
      await refused(t, scope, want, () => s.client.write({ path: bad, parents: true, overwrite: true }, Buffer.from(MARK)));
      await refused(t, scope, want, () => s.client.fs('getNode', { backendId: 1, path: bad }));
      await refused(t, scope, want, () => s.client.fs('moveNode', { backendId: 1, path: src, targetPath: bad, parents: true, overwrite: true }));
      await refused(t, scope, want, () => s.client.fs('copyNode', { backendId: 1, path: src, targetPath: bad, parents: true, overwrite: true }));
    }
    await outsideUntouched(t);
  });
}

// --- invalid UTF-8 on the wire ---

/** `encoded` with the one occurrence of `placeholder` replaced by the same number of raw bytes. */
function patch(encoded: Uint8Array, placeholder: string, raw: Buffer): Buffer {
  const buf = Buffer.from(encoded);
  const ph = Buffer.from(placeholder);
  const at = buf.indexOf(ph);
  if (at < 0 || buf.lastIndexOf(ph) !== at || ph.length !== raw.length) throw new Error('placeholder not found exactly once');
  raw.copy(buf, at);
  return buf;
}

function rawUnary(method: string, body: Buffer): Promise<unknown> {
  return new Promise((resolve, reject) =>
    s.client.files.makeUnaryRequest<Buffer, Buffer>(
      `/filestore.v1.FileStoreService/${method}`,
      (b) => b,
      (b) => b,
      body,
      s.client.metadata(),
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
}

const INVALID_UTF8: { label: string; bytes: number[] }[] = [
  { label: 'lone 0xFF', bytes: [0x61, 0xff, 0x62] },
  { label: 'stray continuation byte', bytes: [0x61, 0x80, 0x62] },
  { label: 'overlong "/" (C0 AF) traversal', bytes: [...Buffer.from('..'), 0xc0, 0xaf, ...Buffer.from('..'), 0xc0, 0xaf, ...Buffer.from(MARK)] },
  { label: 'overlong ".." (C0 AE)', bytes: [0xc0, 0xae, 0xc0, 0xae, 0x2f, ...Buffer.from(MARK)] },
  { label: 'UTF-16 surrogate in UTF-8 (ED A0 80)', bytes: [0x61, 0xed, 0xa0, 0x80] },
  { label: 'truncated sequence', bytes: [0x61, 0xe2, 0x82] },
  { label: 'five-byte form', bytes: [0xf8, 0x88, 0x80, 0x80, 0x80] },
  { label: 'overlong NUL (C0 80)', bytes: [0x61, 0xc0, 0x80, 0x62] },
];

for (const [i, u] of INVALID_UTF8.entries()) {
  test(`invalid UTF-8 on the wire is refused by every RPC: ${u.label}`, async (t) => {
    const prefix = `hp-utf8-${i}`;
    const scope = await setup(prefix);
    const src = `${prefix}/src.txt`;
    const raw = Buffer.from(u.bytes);
    t.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(raw), undefined, 'the bytes must really be invalid UTF-8');
    for (const bytes of [raw, Buffer.concat([Buffer.from(`${prefix}/`), raw])]) {
      const ph = '~'.repeat(bytes.length);
      const calls: [string, () => Promise<unknown>][] = [
        ['CreateDirectory', () => rawUnary('CreateDirectory', patch(CreateDirectoryRequest.encode(CreateDirectoryRequest.fromPartial({ backendId: 1, path: ph, parents: true })).finish(), ph, bytes))],
        ['GetNode', () => rawUnary('GetNode', patch(GetNodeRequest.encode(GetNodeRequest.fromPartial({ backendId: 1, path: ph })).finish(), ph, bytes))],
        ['MoveNode', () => rawUnary('MoveNode', patch(MoveNodeRequest.encode(MoveNodeRequest.fromPartial({ backendId: 1, path: src, targetPath: ph, parents: true })).finish(), ph, bytes))],
        ['CopyNode', () => rawUnary('CopyNode', patch(CopyNodeRequest.encode(CopyNodeRequest.fromPartial({ backendId: 1, path: src, targetPath: ph, parents: true })).finish(), ph, bytes))],
        [
          'WriteFile',
          () =>
            rawWrite(s.client, [
              patch(WriteFileRequest.encode(WriteFileRequest.fromPartial({ header: { backendId: 1, path: ph, parents: true, overwrite: true } })).finish(), ph, bytes),
              { chunk: Buffer.from(MARK) },
            ]),
        ],
        ['ReadFile', () => rawRead(patch(ReadFileRequest.encode(ReadFileRequest.fromPartial({ backendId: 1, path: ph })).finish(), ph, bytes))],
      ];
      for (const [name, call] of calls) {
        const err = await refused(t, scope, { code: status.INVALID_ARGUMENT, reason: 'PATH_INVALID', journal: 'none' }, call);
        t.is(errorInfo(err).metadata.rule, 'invalid-utf8', `${name}: ${err.message}`);
      }
    }
    await outsideUntouched(t);
  });
}

function rawRead(body: Buffer): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const stream = s.client.files.makeServerStreamRequest<Buffer, Buffer>(
      '/filestore.v1.FileStoreService/ReadFile',
      (b) => b,
      (b) => b,
      body,
      s.client.metadata(),
    );
    const got: Buffer[] = [];
    stream.on('data', (b: Buffer) => got.push(b));
    stream.on('error', reject);
    stream.on('end', () => resolve(got));
  });
}

// --- symlinks ---

const ESCAPES: Refusal = { code: status.PERMISSION_DENIED, reason: 'PATH_ESCAPES_ROOT', journal: 'failed' };

test('a symlink out of the root: mkdir, write, move and copy through it are refused', async (t) => {
  const scope = await setup('hp-link');
  const dir = path.join(root, 'hp-link');
  await symlink(canary, path.join(dir, 'evil'));
  await symlink(path.join(canary, 'secret.txt'), path.join(dir, 'secret.txt'));
  const src = 'hp-link/src.txt';
  const c = s.client;
  await refused(t, scope, ESCAPES, () => c.fs('createDirectory', { backendId: 1, path: 'hp-link/evil' }));
  await refused(t, scope, ESCAPES, () => c.fs('createDirectory', { backendId: 1, path: 'hp-link/evil', parents: true }));
  await refused(t, scope, ESCAPES, () => c.fs('createDirectory', { backendId: 1, path: `hp-link/evil/${MARK}`, parents: true }));
  await refused(t, scope, ESCAPES, () => c.fs('createDirectory', { backendId: 1, path: `hp-link/evil/dir/${MARK}`, parents: true }));
  await refused(t, scope, ESCAPES, () => c.write({ path: `hp-link/evil/${MARK}`, parents: true }, Buffer.from(MARK)));
  await refused(t, scope, ESCAPES, () => c.write({ path: 'hp-link/evil/secret.txt', parents: true, overwrite: true }, Buffer.from(MARK)));
  await refused(t, scope, ESCAPES, () => c.write({ path: 'hp-link/evil', overwrite: true }, Buffer.from(MARK)));
  await refused(t, scope, ESCAPES, () => c.write({ path: 'hp-link/secret.txt', overwrite: true }, Buffer.from(MARK)));
  await refused(t, scope, ESCAPES, () => c.write({ path: 'hp-link/secret.txt' }, Buffer.from(MARK)));
  await refused(t, scope, ESCAPES, () => c.fs('moveNode', { backendId: 1, path: src, targetPath: `hp-link/evil/${MARK}`, parents: true }));
  await refused(t, scope, ESCAPES, () => c.fs('copyNode', { backendId: 1, path: src, targetPath: `hp-link/evil/${MARK}`, parents: true }));
  await refused(t, scope, ESCAPES, () => c.fs('moveNode', { backendId: 1, path: src, targetPath: 'hp-link/secret.txt', overwrite: true }));
  await refused(t, scope, ESCAPES, () => c.fs('copyNode', { backendId: 1, path: src, targetPath: 'hp-link/secret.txt', overwrite: true }));
  await refused(t, scope, ESCAPES, () => c.fs('moveNode', { backendId: 1, path: src, targetPath: 'hp-link/evil' }));
  // The service reads through its own rows, so an untracked link is simply not there: nothing is read
  // from disk (the next test reads through a link that replaced a tracked directory).
  await refused(t, scope, { code: status.NOT_FOUND, reason: 'NODE_NOT_FOUND', journal: 'none' }, () => c.read({ path: 'hp-link/evil/secret.txt' }));
  await refused(t, scope, { code: status.NOT_FOUND, reason: 'NODE_NOT_FOUND', journal: 'none' }, () => c.fs('listChildren', { backendId: 1, path: 'hp-link/evil' }));
  await outsideUntouched(t);
});

/** Reads a file and keeps whatever arrived before the error. */
async function readAll(req: object): Promise<{ messages: number; data: Buffer; error?: ServiceError }> {
  const stream = s.client.files.readFile(ReadFileRequest.fromPartial({ backendId: 1, ...req }), s.client.metadata());
  const parts: Buffer[] = [];
  let messages = 0;
  try {
    for await (const msg of stream) {
      messages++;
      if (msg.chunk) parts.push(msg.chunk);
    }
    return { messages, data: Buffer.concat(parts) };
  } catch (error) {
    return { messages, data: Buffer.concat(parts), error: error as ServiceError };
  }
}

test('a tracked directory replaced by a symlink out of the root: every RPC that touches the disk refuses it', async (t) => {
  const scope = await setup('hp-swap');
  const c = s.client;
  await c.write({ path: 'hp-swap/d/f', parents: true }, Buffer.from('inside'));
  await c.fs('createDirectory', { backendId: 1, path: 'hp-swap/d/sub' });
  // Outside the service: the directory is moved away and a link to the canary put in its place.
  await rename(path.join(root, 'hp-swap/d'), path.join(root, 'hp-swap/d.moved-away'));
  await symlink(canary, path.join(root, 'hp-swap/d'));

  for (const req of [{ path: 'hp-swap/d/f' }, { path: 'hp-swap/d/f', offset: 2, length: 3 }]) {
    const got = await readAll(req);
    t.truthy(got.error, 'the read must fail');
    t.is(codeName(got.error!.code), 'PERMISSION_DENIED');
    t.is(errorInfo(got.error!).reason, 'PATH_ESCAPES_ROOT');
    t.is(got.data.length, 0, 'no byte from outside the root may be sent');
    t.false(got.data.toString().includes('canary'));
  }
  await refused(t, scope, ESCAPES, () => c.write({ path: 'hp-swap/d/f', overwrite: true }, Buffer.from(MARK)));
  await refused(t, scope, ESCAPES, () => c.write({ path: `hp-swap/d/${MARK}` }, Buffer.from(MARK)));
  await refused(t, scope, ESCAPES, () => c.write({ path: 'hp-swap/d/secret.txt', overwrite: true }, Buffer.from(MARK)));
  await refused(t, scope, ESCAPES, () => c.fs('createDirectory', { backendId: 1, path: `hp-swap/d/${MARK}` }));
  await refused(t, scope, ESCAPES, () => c.fs('createDirectory', { backendId: 1, path: `hp-swap/d/sub/${MARK}` }));
  await refused(t, scope, ESCAPES, () => c.fs('deleteNode', { backendId: 1, path: 'hp-swap/d/f' }));
  await refused(t, scope, ESCAPES, () => c.fs('deleteNode', { backendId: 1, path: 'hp-swap/d', recursive: true }));
  await refused(t, scope, ESCAPES, () => c.fs('moveNode', { backendId: 1, path: 'hp-swap/d/f', targetPath: 'hp-swap/g' }));
  await refused(t, scope, ESCAPES, () => c.fs('moveNode', { backendId: 1, path: 'hp-swap/d', targetPath: 'hp-swap/e' }));
  await refused(t, scope, ESCAPES, () => c.fs('moveNode', { backendId: 1, path: 'hp-swap/src.txt', targetPath: 'hp-swap/d/f', overwrite: true }));
  await refused(t, scope, ESCAPES, () => c.fs('copyNode', { backendId: 1, path: 'hp-swap/d/f', targetPath: 'hp-swap/g' }));
  await refused(t, scope, ESCAPES, () => c.fs('copyNode', { backendId: 1, path: 'hp-swap/d', targetPath: 'hp-swap/e' }));
  await refused(t, scope, ESCAPES, () => c.fs('copyNode', { backendId: 1, path: 'hp-swap/src.txt', targetPath: 'hp-swap/d/secret.txt' }));
  await outsideUntouched(t);
});
