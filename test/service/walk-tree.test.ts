// WalkTree through a real grpc-js client against an in-process server: order, scope, depth,
// batches, resuming after a broken stream, and refusals.
import test from 'ava';
import { status } from '@grpc/grpc-js';
import type { Node } from '../../gen/filestore/v1/node.js';
import { errorReason } from '../support/client.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
// Names chosen so that byte order and a per-directory order differ ("a-b" sorts between "a" and "a/…").
const DIRS = ['a', 'a/x', 'a/x/deep', 'a-b', 'b', 'b/c', 'empty'];
const FILES = ['a/1.txt', 'a/x/2.txt', 'a/x/deep/3.txt', 'a-b/4.txt', 'b/c/5.txt', 'top.txt'];

test.before(async () => {
  s = await startTestServer();
  for (const d of DIRS) await s.client.fs('createDirectory', { backendId: 1, path: d });
  for (const f of FILES) await s.client.write({ path: f }, Buffer.from(f));
});
test.after.always(async () => s?.close());

const paths = (msgs: { nodes: Node[] }[]) => msgs.flatMap((m) => m.nodes.map((n) => n.path));
const byteOrder = (xs: string[]) => [...xs].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

test('the whole tree from the root, in byte order of the paths, the root itself left out', async (t) => {
  const got = paths(await s.client.walk({ path: '' }));
  t.deepEqual(got, byteOrder([...DIRS, ...FILES]));
});

test('a subtree holds only what is below it ("a-b" is not below "a")', async (t) => {
  const got = paths(await s.client.walk({ path: 'a' }));
  t.deepEqual(got, byteOrder(['a/x', 'a/x/deep', 'a/1.txt', 'a/x/2.txt', 'a/x/deep/3.txt']));
  const walked = await s.client.walk({ path: 'a/x/deep' });
  t.deepEqual(paths(walked), ['a/x/deep/3.txt']);
  const byId = await s.client.walk({ nodeId: (await s.client.fs('getNode', { backendId: 1, path: 'b' })).node.id });
  t.deepEqual(paths(byId), ['b/c', 'b/c/5.txt']);
});

test('max_depth 1 is the children, 2 the grandchildren too', async (t) => {
  t.deepEqual(paths(await s.client.walk({ path: 'a', maxDepth: 1 })), byteOrder(['a/x', 'a/1.txt']));
  t.deepEqual(paths(await s.client.walk({ path: 'a', maxDepth: 2 })), byteOrder(['a/x', 'a/x/deep', 'a/1.txt', 'a/x/2.txt']));
  t.deepEqual(paths(await s.client.walk({ path: '', maxDepth: 1 })), byteOrder(['a', 'a-b', 'b', 'empty', 'top.txt']));
});

test('batches of batch_size; a walk broken off resumes after the last message it got, and nothing is seen twice', async (t) => {
  const all = paths(await s.client.walk({ path: '' }));
  const first = await s.client.walk({ path: '', batchSize: 3 }, 2);
  t.deepEqual(first.map((m) => m.nodes.length), [3, 3]);
  const rest = await s.client.walk({ path: '', batchSize: 3, resumeToken: first[1]!.resumeToken });
  t.deepEqual([...paths(first), ...paths(rest)], all);
  t.true(rest.every((m) => m.nodes.length <= 3));
});

test('an empty directory walks to an empty stream', async (t) => {
  t.deepEqual(await s.client.walk({ path: 'empty' }), []);
});

test('refused: a file, a missing path, a token of another walk, a negative depth', async (t) => {
  const refused = async (req: object, code: number, reason: string) => {
    const err = await t.throwsAsync(s.client.walk(req));
    t.is((err as { code?: number }).code, code, `${JSON.stringify(req)}: ${err?.message}`);
    t.is(errorReason(err as never), reason);
  };
  await refused({ path: 'top.txt' }, status.FAILED_PRECONDITION, 'KIND_MISMATCH');
  await refused({ path: 'nope' }, status.NOT_FOUND, 'NODE_NOT_FOUND');
  const [msg] = await s.client.walk({ path: 'a', batchSize: 1 }, 1);
  await refused({ path: 'b', resumeToken: msg!.resumeToken }, status.INVALID_ARGUMENT, 'PAGE_TOKEN_INVALID');
  await refused({ path: 'a', maxDepth: -1 }, status.INVALID_ARGUMENT, 'MAX_DEPTH_INVALID');
  await refused({ path: 'a', batchSize: -1 }, status.INVALID_ARGUMENT, 'PAGE_SIZE_INVALID');
});

// Serial: it changes the tree the other tests walk, and removes what it made before they run.
test.serial('a walk resumed after its directory moved goes on inside it, at its new place', async (t) => {
  for (const d of ['mv1', 'mv1/x', 'mv1/y']) await s.client.fs('createDirectory', { backendId: 1, path: d });
  const [first] = await s.client.walk({ path: 'mv1', batchSize: 1 }, 1);
  t.deepEqual(paths([first!]), ['mv1/x']);
  await s.client.fs('moveNode', { backendId: 1, path: 'mv1', targetPath: 'zz' });
  const rest = await s.client.walk({ path: 'zz', resumeToken: first!.resumeToken });
  t.deepEqual(paths(rest), ['zz/y']);
  await s.client.fs('deleteNode', { backendId: 1, path: 'zz', recursive: true });
});
