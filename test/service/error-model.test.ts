// docs/architecture.md#error-model, row by row, through the real client: each refusal has its status
// code, its ErrorInfo reason, and no effect (rows, snapshots, files, journal; see support/observe.ts).
//
// Not covered here:
// - "node MISSING" (FAILED_PRECONDITION): no command can produce a MISSING node yet (there is no
//   reconciler), so that row cannot be provoked through the API.
// - "database or Redis unreachable" (UNAVAILABLE) is not in this file's scope.
import test from 'ava';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Metadata, status } from '@grpc/grpc-js';
import { sha256, TestClient } from '../support/client.js';
import { Claims, listTree, rawWrite, refused, type Refusal, type Scope } from '../support/observe.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ALICE = '0123456789abcdef0123';
const UPLOAD_LIMIT = 1024;

let s: TestServer;
let authed: TestServer; // FILESTORE_TOKENS set
let small: TestServer; // small FILESTORE_MAX_UPLOAD_BYTES
let outside: string;
const claims = new Claims();
const authClaims = new Claims();
const smallClaims = new Claims();

test.before(async () => {
  [s, authed, small] = await Promise.all([
    startTestServer(),
    startTestServer({ FILESTORE_TOKENS: `alice:${ALICE}` }),
    startTestServer({ FILESTORE_MAX_UPLOAD_BYTES: String(UPLOAD_LIMIT) }),
  ]);
  outside = await mkdtemp(path.join(os.tmpdir(), 'filestore-outside-'));
  await writeFile(path.join(outside, 'secret.txt'), 'outside the root');
});
test.after('no refused upload or copy left anything in staging', async (t) => {
  for (const server of [s, authed, small]) t.deepEqual(await readdir(path.join(server.root, '.filestore', 'staging', 'test')), []);
});
test.after.always(async () => {
  await Promise.all([s?.close(), authed?.close(), small?.close()]);
  if (outside) await rm(outside, { recursive: true, force: true });
});

const INVALID = (reason: string): Refusal => ({ code: status.INVALID_ARGUMENT, reason, journal: 'none' });
const NOT_FOUND = (reason: string): Refusal => ({ code: status.NOT_FOUND, reason, journal: 'none' });
const FAILED = (code: status, reason: string): Refusal => ({ code, reason, journal: 'failed' });

/** Claims `prefix`, creates it as a directory, and returns the scope for `refused`. */
async function setup(prefix: string, probes?: string[]): Promise<Scope> {
  claims.claim(prefix);
  await s.client.fs('createDirectory', { backendId: 1, path: prefix });
  return { s, claims, prefix, probes: probes ?? [prefix] };
}

const fs = (method: any, req: object) => () => s.client.fs(method, req);
const write = (header: object, data: Buffer = Buffer.from('data')) => () => s.client.write(header, data);
const read = (req: object) => () => s.client.read(req);

test('malformed path: INVALID_ARGUMENT PATH_INVALID, no journal entry', async (t) => {
  const scope = await setup('em-malformed');
  for (const bad of ['em-malformed/../x', 'em-malformed//x', '/em-malformed/x', 'em-malformed/x/', 'em-malformed/a\u0000b']) {
    await refused(t, scope, INVALID('PATH_INVALID'), fs('createDirectory', { backendId: 1, path: bad, parents: true }));
    await refused(t, scope, INVALID('PATH_INVALID'), write({ path: bad, parents: true }));
    await refused(t, scope, INVALID('PATH_INVALID'), fs('getNode', { backendId: 1, path: bad }));
    await refused(t, scope, INVALID('PATH_INVALID'), fs('listChildren', { backendId: 1, path: bad }));
    await refused(t, scope, INVALID('PATH_INVALID'), fs('deleteNode', { backendId: 1, path: bad, recursive: true }));
    await refused(t, scope, INVALID('PATH_INVALID'), fs('updateNodeMetadata', { backendId: 1, path: bad, metadata: { a: 1 } }));
  }
  await refused(t, scope, INVALID('PATH_RESERVED'), fs('createDirectory', { backendId: 1, path: '.filestore/x', parents: true }));
  await refused(t, scope, INVALID('PATH_INVALID'), () => s.client.js('listJournalEntries', { pathPrefix: 'em-malformed/../x' }));
  await refused(t, scope, INVALID('PATH_INVALID'), fs('moveNode', { backendId: 1, path: 'em-malformed', targetPath: 'em-malformed2/../x' }));
});

test('missing fields: backend_id, target_path, the root as a target', async (t) => {
  const scope = await setup('em-missing');
  await s.client.write({ path: 'em-missing/f' }, Buffer.from('f'));
  await refused(t, scope, INVALID('BACKEND_REQUIRED'), fs('createDirectory', { backendId: 0, path: 'em-missing/x' }));
  await refused(t, scope, INVALID('BACKEND_REQUIRED'), write({ backendId: 0, path: 'em-missing/y' }));
  await refused(t, scope, INVALID('BACKEND_REQUIRED'), fs('getNode', { backendId: 0, path: 'em-missing' }));
  await refused(t, scope, INVALID('BACKEND_REQUIRED'), read({ backendId: 0, path: 'em-missing/f' }));
  await refused(t, scope, INVALID('BACKEND_REQUIRED'), fs('moveNode', { backendId: 0, path: 'em-missing/f', targetPath: 'em-missing/g' }));
  // No target_path: proto3 sends "", which the service reads as missing (the root is never a target).
  await refused(t, scope, INVALID('TARGET_PATH_REQUIRED'), fs('moveNode', { backendId: 1, path: 'em-missing/f' }));
  await refused(t, scope, INVALID('TARGET_PATH_REQUIRED'), fs('copyNode', { backendId: 1, path: 'em-missing/f' }));
  await refused(t, scope, INVALID('ROOT_NOT_ALLOWED'), fs('deleteNode', { backendId: 1, path: '', recursive: true }));
  await refused(t, scope, INVALID('ROOT_NOT_ALLOWED'), fs('createDirectory', { backendId: 1, path: '', parents: true }));
  await refused(t, scope, INVALID('ROOT_NOT_ALLOWED'), write({ path: '', overwrite: true }));
});

test('unknown backend: NOT_FOUND BACKEND_NOT_FOUND', async (t) => {
  const scope = await setup('em-backend');
  await refused(t, scope, NOT_FOUND('BACKEND_NOT_FOUND'), fs('createDirectory', { backendId: 99, path: 'em-backend/x' }));
  await refused(t, scope, NOT_FOUND('BACKEND_NOT_FOUND'), write({ backendId: 99, path: 'em-backend/x' }));
  await refused(t, scope, NOT_FOUND('BACKEND_NOT_FOUND'), fs('getNode', { backendId: 99, path: 'em-backend' }));
  await refused(t, scope, NOT_FOUND('BACKEND_NOT_FOUND'), fs('listChildren', { backendId: 99, path: '' }));
  await refused(t, scope, NOT_FOUND('BACKEND_NOT_FOUND'), read({ backendId: 99, path: 'em-backend/x' }));
  await refused(t, scope, NOT_FOUND('BACKEND_NOT_FOUND'), fs('deleteNode', { backendId: 99, path: 'em-backend' }));
  await refused(t, scope, NOT_FOUND('BACKEND_NOT_FOUND'), fs('updateNodeMetadata', { backendId: 99, path: 'em-backend', metadata: {} }));
  await refused(t, scope, NOT_FOUND('BACKEND_NOT_FOUND'), () => s.client.js('listJournalEntries', { backendId: 99 }));
});

test('unknown node_id: NOT_FOUND NODE_NOT_FOUND', async (t) => {
  const scope = await setup('em-nodeid');
  const id = 987_654_321;
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('getNode', { nodeId: id }));
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('listChildren', { nodeId: id }));
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), read({ nodeId: id }));
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('listNodeVersions', { nodeId: id }));
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('deleteNode', { nodeId: id, recursive: true }));
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('updateNodeMetadata', { nodeId: id, metadata: { a: 1 } }));
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('moveNode', { nodeId: id, targetPath: 'em-nodeid/x' }));
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('copyNode', { nodeId: id, targetPath: 'em-nodeid/x' }));
  // A deleted node's id is unknown to the mutations too.
  const gone = await s.client.fs('createDirectory', { backendId: 1, path: 'em-nodeid/gone' });
  await s.client.fs('deleteNode', { nodeId: gone.node.id });
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('getNode', { nodeId: gone.node.id }));
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('updateNodeMetadata', { nodeId: gone.node.id, metadata: { a: 1 } }));
  // And a path that holds nothing.
  await refused(t, scope, NOT_FOUND('NODE_NOT_FOUND'), fs('getNode', { backendId: 1, path: 'em-nodeid/nothing' }));
  await refused(t, scope, FAILED(status.NOT_FOUND, 'NODE_NOT_FOUND'), fs('deleteNode', { backendId: 1, path: 'em-nodeid/nothing' }));
});

test('bad page token: INVALID_ARGUMENT PAGE_TOKEN_INVALID', async (t) => {
  const scope = await setup('em-page');
  for (const n of ['a', 'b', 'c']) await s.client.fs('createDirectory', { backendId: 1, path: `em-page/${n}` });
  await s.client.fs('createDirectory', { backendId: 1, path: 'em-page/other' });
  const first = await s.client.fs('listChildren', { backendId: 1, path: 'em-page', pageSize: 1 });
  t.truthy(first.nextPageToken);
  for (const token of ['garbage!', 'e30', Buffer.from('{"s":"children:1"}').toString('base64url'), first.nextPageToken.slice(0, -3)]) {
    await refused(t, scope, INVALID('PAGE_TOKEN_INVALID'), fs('listChildren', { backendId: 1, path: 'em-page', pageToken: token }));
  }
  // A real token, but of another listing.
  await refused(t, scope, INVALID('PAGE_TOKEN_INVALID'), fs('listChildren', { backendId: 1, path: 'em-page/other', pageToken: first.nextPageToken }));
  await refused(t, scope, INVALID('PAGE_TOKEN_INVALID'), fs('listNodeVersions', { backendId: 1, path: 'em-page', pageToken: first.nextPageToken }));
  await refused(t, scope, INVALID('PAGE_TOKEN_INVALID'), () => s.client.js('listJournalEntries', { pageToken: first.nextPageToken }));
  await refused(t, scope, INVALID('PAGE_TOKEN_INVALID'), () => s.client.js('listJournalEntries', { pageToken: '%%%' }));
  await refused(t, scope, INVALID('PAGE_SIZE_INVALID'), fs('listChildren', { backendId: 1, path: 'em-page', pageSize: -1 }));
});

test('WriteFile stream framing: chunk before header, empty stream, header repeated', async (t) => {
  const scope = await setup('em-stream');
  const header = { backendId: 1, path: 'em-stream/f', parents: true };
  await refused(t, scope, INVALID('CHUNK_BEFORE_HEADER'), () => rawWrite(s.client, [{ chunk: Buffer.from('x') }, { header }]));
  await refused(t, scope, INVALID('CHUNK_BEFORE_HEADER'), () => rawWrite(s.client, [{ chunk: Buffer.from('x') }]));
  await refused(t, scope, INVALID('HEADER_REQUIRED'), () => rawWrite(s.client, []));
  await refused(t, scope, INVALID('HEADER_REPEATED'), () => rawWrite(s.client, [{ header }, { header }]));
  await refused(t, scope, INVALID('HEADER_REPEATED'), () => rawWrite(s.client, [{ header }, { chunk: Buffer.from('abc') }, { header: { ...header, path: 'em-stream/g' } }, { chunk: Buffer.from('def') }]));
  // An empty message (neither header nor chunk) is no header either.
  await refused(t, scope, INVALID('CHUNK_BEFORE_HEADER'), () => rawWrite(s.client, [{}, { header }]));
});

test('sha256: bad format and checksum mismatch are INVALID_ARGUMENT, before anything is committed', async (t) => {
  const scope = await setup('em-sha');
  const data = randomBytes(70_000);
  await s.client.write({ path: 'em-sha/kept' }, data);
  for (const bad of ['abc', sha256(data).toUpperCase(), sha256(data).slice(1), `${sha256(data)}0`, 'g'.repeat(64)]) {
    await refused(t, scope, INVALID('SHA256_INVALID'), write({ path: 'em-sha/new', sha256: bad }, data));
  }
  const other = sha256(Buffer.from('something else'));
  await refused(t, scope, INVALID('CHECKSUM_MISMATCH'), write({ path: 'em-sha/new', sha256: other }, data));
  await refused(t, scope, INVALID('CHECKSUM_MISMATCH'), write({ path: 'em-sha/kept', sha256: other, overwrite: true }, randomBytes(1000)));
  await refused(t, scope, INVALID('CHECKSUM_MISMATCH'), write({ path: 'em-sha/new', sha256: sha256(data), parents: true }, Buffer.concat([data, Buffer.from('!')])));
  t.deepEqual(readFileSync(path.join(s.root, 'em-sha/kept')), data);
});

test('ALREADY_EXISTS: write to an existing file without overwrite, mkdir over an existing node', async (t) => {
  const scope = await setup('em-exists');
  const data = Buffer.from('original');
  await s.client.write({ path: 'em-exists/f' }, data);
  await s.client.fs('createDirectory', { backendId: 1, path: 'em-exists/d' });
  const E = FAILED(status.ALREADY_EXISTS, 'NODE_EXISTS');
  await refused(t, scope, E, write({ path: 'em-exists/f' }, Buffer.from('replacement')));
  await refused(t, scope, E, write({ path: 'em-exists/f', parents: true }, Buffer.from('replacement')));
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-exists/d' }));
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-exists/f' }));
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-exists/f', parents: true }));
  await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-exists/d', targetPath: 'em-exists/f' }));
  await refused(t, scope, E, fs('copyNode', { backendId: 1, path: 'em-exists/f', targetPath: 'em-exists/d' }));
  await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-exists/f', targetPath: 'em-exists/d', overwrite: true }));
  t.deepEqual(readFileSync(path.join(s.root, 'em-exists/f')), data);
});

test('FAILED_PRECONDITION: parent missing', async (t) => {
  const scope = await setup('em-parent');
  await s.client.write({ path: 'em-parent/f' }, Buffer.from('f'));
  const E = FAILED(status.FAILED_PRECONDITION, 'PARENT_MISSING');
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-parent/no/x' }));
  await refused(t, scope, E, write({ path: 'em-parent/no/f' }));
  await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-parent/f', targetPath: 'em-parent/no/g' }));
  await refused(t, scope, E, fs('copyNode', { backendId: 1, path: 'em-parent/f', targetPath: 'em-parent/no/g' }));
});

test('FAILED_PRECONDITION: deleting a non-empty directory without recursive', async (t) => {
  const scope = await setup('em-notempty');
  await s.client.write({ path: 'em-notempty/d/f', parents: true }, Buffer.from('f'));
  const dir = await s.client.fs('getNode', { backendId: 1, path: 'em-notempty/d' });
  const E = FAILED(status.FAILED_PRECONDITION, 'DIRECTORY_NOT_EMPTY');
  await refused(t, scope, E, fs('deleteNode', { backendId: 1, path: 'em-notempty/d' }));
  await refused(t, scope, E, fs('deleteNode', { nodeId: dir.node.id }));
  await refused(t, scope, E, fs('deleteNode', { backendId: 1, path: 'em-notempty' }));
});

test('FAILED_PRECONDITION: file/directory mismatch', async (t) => {
  const scope = await setup('em-kind', ['em-kind', 'em-kind/d', 'em-kind/f']);
  await s.client.fs('createDirectory', { backendId: 1, path: 'em-kind/d' });
  await s.client.write({ path: 'em-kind/f' }, Buffer.from('file'));
  const E = FAILED(status.FAILED_PRECONDITION, 'KIND_MISMATCH');
  const Q = { code: status.FAILED_PRECONDITION, reason: 'KIND_MISMATCH', journal: 'none' } as const;
  await refused(t, scope, E, write({ path: 'em-kind/d', overwrite: true }));
  await refused(t, scope, E, write({ path: 'em-kind/d' }));
  await refused(t, scope, E, write({ path: 'em-kind/f/x' }));
  await refused(t, scope, E, write({ path: 'em-kind/f/x/y', parents: true }));
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-kind/f/x' }));
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-kind/f/x/y', parents: true }));
  await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-kind/d', targetPath: 'em-kind/f/d' }));
  await refused(t, scope, Q, fs('listChildren', { backendId: 1, path: 'em-kind/f' }));
  await refused(t, scope, Q, read({ path: 'em-kind/d' }));
  await refused(t, scope, Q, read({ path: 'em-kind' }));
});

test('FAILED_PRECONDITION: an idempotency key reused with other parameters', async (t) => {
  const scope = await setup('em-idem');
  const first = await s.client.fs('createDirectory', { backendId: 1, path: 'em-idem/a', idempotencyKey: 'em-idem-key' });
  await s.client.write({ path: 'em-idem/f', idempotencyKey: 'em-idem-file' }, Buffer.from('one'));
  // The refusal happens at the journal's door, before the command is accepted: no new entry,
  // and the original entry stays as it was (checked by `refused`).
  const E = { code: status.FAILED_PRECONDITION, reason: 'IDEMPOTENCY_KEY_REUSED', journal: 'none' } as const;
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-idem/b', idempotencyKey: 'em-idem-key' }));
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-idem/a', parents: true, idempotencyKey: 'em-idem-key' }));
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-idem/a', metadata: { x: 1 }, idempotencyKey: 'em-idem-key' }));
  await refused(t, scope, E, fs('updateNodeMetadata', { backendId: 1, path: 'em-idem/a', metadata: { x: 1 }, idempotencyKey: 'em-idem-key' }));
  await refused(t, scope, E, write({ path: 'em-idem/f', overwrite: true, idempotencyKey: 'em-idem-file' }, Buffer.from('two')));
  await refused(t, scope, E, write({ path: 'em-idem/g', idempotencyKey: 'em-idem-file' }, Buffer.from('one')));
  const again = await s.client.fs('createDirectory', { backendId: 1, path: 'em-idem/a', idempotencyKey: 'em-idem-key' });
  t.true(again.idempotentReplay);
  t.is(again.journalId, first.journalId);
});

test('ABORTED VERSION_MISMATCH: a stale expected_version for WriteFile, MoveNode, DeleteNode, UpdateNodeMetadata', async (t) => {
  const scope = await setup('em-version');
  await s.client.write({ path: 'em-version/f' }, Buffer.from('v1'));
  await s.client.write({ path: 'em-version/f', overwrite: true }, Buffer.from('v2'));
  await s.client.fs('createDirectory', { backendId: 1, path: 'em-version/d' });
  await s.client.fs('updateNodeMetadata', { backendId: 1, path: 'em-version/d', metadata: { a: 1 } });
  const f = await s.client.fs('getNode', { backendId: 1, path: 'em-version/f' });
  t.is(f.node.version, 2);
  const E = FAILED(status.ABORTED, 'VERSION_MISMATCH');
  for (const stale of [0, 1, 3]) {
    await refused(t, scope, E, write({ path: 'em-version/f', expectedVersion: stale }, Buffer.from('v3')));
    await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-version/f', targetPath: 'em-version/g', expectedVersion: stale }));
    await refused(t, scope, E, fs('copyNode', { backendId: 1, path: 'em-version/f', targetPath: 'em-version/g', expectedVersion: stale }));
    await refused(t, scope, E, fs('deleteNode', { backendId: 1, path: 'em-version/f', expectedVersion: stale }));
    await refused(t, scope, E, fs('deleteNode', { nodeId: f.node.id, expectedVersion: stale }));
    await refused(t, scope, E, fs('updateNodeMetadata', { backendId: 1, path: 'em-version/f', metadata: { b: 2 }, expectedVersion: stale }));
    await refused(t, scope, E, fs('updateNodeMetadata', { backendId: 1, path: 'em-version/d', metadata: { b: 2 }, expectedVersion: stale }));
  }
  // Nothing at the path, but a version expected.
  await refused(t, scope, E, write({ path: 'em-version/new', expectedVersion: 1 }));
  await refused(t, scope, INVALID('EXPECTED_VERSION_INVALID'), write({ path: 'em-version/new', expectedVersion: -1 }));
  t.deepEqual(readFileSync(path.join(s.root, 'em-version/f'), 'utf8'), 'v2');
});

test('UNAUTHENTICATED with tokens configured: no token, a wrong token; the right one works as "alice"', async (t) => {
  authClaims.claim('em-auth');
  await authed.client.fs('createDirectory', { backendId: 1, path: 'em-auth' });
  await authed.client.write({ path: 'em-auth/f' }, Buffer.from('alice'));
  const scope: Scope = { s: authed, claims: authClaims, prefix: 'em-auth' };
  const anonymous = new TestClient(authed.client.address);
  const wrong = new TestClient(authed.client.address, 'ffffffffffffffffffff');
  t.teardown(() => {
    anonymous.close();
    wrong.close();
  });
  const cases: [TestClient, string][] = [
    [anonymous, 'TOKEN_MISSING'],
    [wrong, 'TOKEN_INVALID'],
  ];
  for (const [c, reason] of cases) {
    const E = { code: status.UNAUTHENTICATED, reason, journal: 'none' } as const;
    await refused(t, scope, E, () => c.fs('listBackends', {}));
    await refused(t, scope, E, () => c.fs('getNode', { backendId: 1, path: 'em-auth' }));
    await refused(t, scope, E, () => c.fs('listChildren', { backendId: 1, path: 'em-auth' }));
    await refused(t, scope, E, () => c.fs('createDirectory', { backendId: 1, path: 'em-auth/x' }));
    await refused(t, scope, E, () => c.write({ path: 'em-auth/g' }, Buffer.from('g')));
    await refused(t, scope, E, () => c.read({ path: 'em-auth/f' }));
    await refused(t, scope, E, () => c.fs('moveNode', { backendId: 1, path: 'em-auth/f', targetPath: 'em-auth/h' }));
    await refused(t, scope, E, () => c.fs('copyNode', { backendId: 1, path: 'em-auth/f', targetPath: 'em-auth/h' }));
    await refused(t, scope, E, () => c.fs('deleteNode', { backendId: 1, path: 'em-auth/f' }));
    await refused(t, scope, E, () => c.fs('updateNodeMetadata', { backendId: 1, path: 'em-auth/f', metadata: {} }));
    await refused(t, scope, E, () => c.js('listJournalEntries', {}));
  }
  // Malformed authorization headers are unknown tokens.
  for (const header of ['Basic YWxpY2U6cHc=', `Bearer`, `Bearer ${ALICE} extra`, ALICE, `Bearer ${ALICE.slice(1)}`]) {
    const m = new Metadata();
    m.set('authorization', header);
    await refused(t, scope, { code: status.UNAUTHENTICATED, reason: 'TOKEN_INVALID', journal: 'none' }, () =>
      new Promise((resolve, reject) => anonymous.files.getNode({ backendId: 1, path: 'em-auth', nodeId: 0 }, m, (err, res) => (err ? reject(err) : resolve(res)))),
    );
  }
  const made = await authed.client.fs('createDirectory', { backendId: 1, path: 'em-auth/ok' });
  const entry = await authed.client.js('getJournalEntry', { id: made.journalId });
  t.is(entry.entry.principal, 'alice');
  t.is(entry.entry.status, 2);
  const back = await authed.client.read({ path: 'em-auth/f' });
  t.is(back.data.toString(), 'alice');
});

test('PERMISSION_DENIED: a symlink leading outside the root', async (t) => {
  const scope = await setup('em-link');
  await symlink(outside, path.join(s.root, 'em-link/evil'));
  await symlink(path.join(outside, 'secret.txt'), path.join(s.root, 'em-link/secret.txt'));
  await s.client.write({ path: 'em-link/src' }, Buffer.from('src'));
  const before = await listTree(outside);
  const E = FAILED(status.PERMISSION_DENIED, 'PATH_ESCAPES_ROOT');
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-link/evil' }));
  await refused(t, scope, E, fs('createDirectory', { backendId: 1, path: 'em-link/evil/x', parents: true }));
  await refused(t, scope, E, write({ path: 'em-link/evil/f', parents: true }));
  await refused(t, scope, E, write({ path: 'em-link/evil', overwrite: true }));
  await refused(t, scope, E, write({ path: 'em-link/secret.txt', overwrite: true }));
  await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-link/src', targetPath: 'em-link/evil/src', parents: true }));
  await refused(t, scope, E, fs('copyNode', { backendId: 1, path: 'em-link/src', targetPath: 'em-link/evil/src', parents: true }));
  await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-link/src', targetPath: 'em-link/secret.txt' }));
  t.deepEqual(await listTree(outside), before);
});

test('RESOURCE_EXHAUSTED: metadata over the limit', async (t) => {
  const scope = await setup('em-meta');
  await s.client.write({ path: 'em-meta/f', metadata: { big: 'x'.repeat(40_000) } }, Buffer.from('f'));
  const huge = { blob: 'y'.repeat(70 * 1024) };
  const up = { code: status.RESOURCE_EXHAUSTED, reason: 'METADATA_TOO_LARGE', journal: 'none' } as const;
  await refused(t, scope, up, fs('createDirectory', { backendId: 1, path: 'em-meta/d', metadata: huge }));
  await refused(t, scope, up, write({ path: 'em-meta/g', metadata: huge }));
  await refused(t, scope, up, fs('updateNodeMetadata', { backendId: 1, path: 'em-meta/f', metadata: huge }));
  // Each part fits, the merge does not: refused inside the command, so it is journalled as FAILED.
  await refused(t, scope, FAILED(status.RESOURCE_EXHAUSTED, 'METADATA_TOO_LARGE'), fs('updateNodeMetadata', { backendId: 1, path: 'em-meta/f', metadata: { more: 'z'.repeat(40_000) }, merge: true }));
});

test('RESOURCE_EXHAUSTED: an upload over FILESTORE_MAX_UPLOAD_BYTES', async (t) => {
  smallClaims.claim('em-upload');
  await small.client.fs('createDirectory', { backendId: 1, path: 'em-upload' });
  const fits = randomBytes(UPLOAD_LIMIT);
  await small.client.write({ path: 'em-upload/fits' }, fits);
  const scope: Scope = { s: small, claims: smallClaims, prefix: 'em-upload', probes: ['em-upload', 'em-upload/fits'] };
  const E = { code: status.RESOURCE_EXHAUSTED, reason: 'UPLOAD_TOO_LARGE', journal: 'none' } as const;
  await refused(t, scope, E, () => small.client.write({ path: 'em-upload/big' }, randomBytes(UPLOAD_LIMIT + 1)));
  await refused(t, scope, E, () => small.client.write({ path: 'em-upload/big' }, randomBytes(64 * UPLOAD_LIMIT), 100));
  await refused(t, scope, E, () => small.client.write({ path: 'em-upload/fits', overwrite: true }, randomBytes(10 * UPLOAD_LIMIT)));
  t.deepEqual(readFileSync(path.join(small.root, 'em-upload/fits')), fits);
});

test('INVALID_ARGUMENT: moving or copying a node into itself', async (t) => {
  const scope = await setup('em-self');
  await s.client.write({ path: 'em-self/d/sub/f', parents: true }, Buffer.from('f'));
  const d = await s.client.fs('getNode', { backendId: 1, path: 'em-self/d' });
  const E = INVALID('TARGET_INSIDE_SOURCE');
  await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-self/d', targetPath: 'em-self/d' }));
  await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-self/d', targetPath: 'em-self/d/sub/x' }));
  await refused(t, scope, E, fs('moveNode', { backendId: 1, path: 'em-self/d', targetPath: 'em-self/d/y', parents: true }));
  await refused(t, scope, E, fs('moveNode', { nodeId: d.node.id, targetPath: 'em-self/d/z' }));
  await refused(t, scope, E, fs('copyNode', { backendId: 1, path: 'em-self/d', targetPath: 'em-self/d/copy' }));
  await refused(t, scope, E, fs('copyNode', { backendId: 1, path: 'em-self/d/sub/f', targetPath: 'em-self/d/sub/f' }));
});
