// Group commit (docs/decisions/008): commands that wait at the same moment share one transaction, and
// one refused command never fails its batch-mates. Calls made together here land in one batch: the
// first command of a batch waits 200 ms for others (FILESTORE_TEST_GROUP_GATHER_MS).
import test, { type ExecutionContext } from 'ava';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { Event } from '../../gen/filestore/v1/events_service.js';
import { RollupState } from '../../gen/filestore/v1/node.js';
import { TX_SHIFT } from '../../src/db/events-repo.js';
import { errorReason } from '../support/client.js';
import type { Subscriber } from '../support/events.js';
import { rollupsSettled } from '../support/rollups.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { diskTree, journalAll, metadataTree, STATUS, statusName, treeDiff } from '../e2e/helpers.js';

process.env.FILESTORE_TEST_GROUP_GATHER_MS = '200';
let s: TestServer;

test.before(async () => {
  s = await startTestServer({ FILESTORE_EVENTS_HEARTBEAT_MS: '300' });
});
test.after.always(async () => {
  await s?.close();
});

const transactionOf = (e: Event) => BigInt(e.cursor) >> BigInt(TX_SHIFT);

async function subscribeNow(pathPrefix: string): Promise<Subscriber> {
  const sub = s.client.subscribe({ pathPrefix, eventTypes: ['filestore.node.created', 'filestore.command.completed'] });
  await sub.until((x) => x.heartbeats.length > 0, 5000, 'the first heartbeat');
  return sub;
}

type Settled = PromiseSettledResult<{ journalId: number; node?: unknown }>;

function refusal(r: Settled): string {
  if (r.status === 'fulfilled') return 'ok';
  const err = r.reason as ServiceError;
  return `${status[err.code]} ${errorReason(err)}`;
}

/** The newest journal entry of each path under `prefix`: status, and the error reason of a refused one. */
async function journalOf(prefix: string): Promise<Map<string, string>> {
  const { entries } = await journalAll(s.client, { pathPrefix: prefix }); // newest first
  const newest = new Map<string, string>();
  for (const e of entries) if (!newest.has(e.path)) newest.set(e.path, `${statusName(e.status)}${e.error ? ` ${e.error.reason}` : ''}`);
  return newest;
}

async function nodesMatchDisk(t: ExecutionContext): Promise<void> {
  t.deepEqual(treeDiff(await metadataTree(s.client), await diskTree(s.root)), [], 'the nodes table and the disk agree');
}

test.serial('one batch: the refused commands (ALREADY_EXISTS, ABORTED, FAILED_PRECONDITION) fail alone, their batch-mates commit together', async (t) => {
  const setup = [
    await s.client.fs('createDirectory', { backendId: 1, path: 'gc' }),
    await s.client.fs('createDirectory', { backendId: 1, path: 'gc/taken' }),
    await s.client.write({ path: 'gc/file.txt' }, Buffer.from('v1')),
  ].map((r) => Number(r.journalId));
  // A subscription "from now" may still deliver the setup's events, committed just before it.
  const sub = await subscribeNow('gc');
  const calls: [string, () => Promise<{ journalId: number; node?: unknown }>][] = [
    ['gc/a', () => s.client.fs('createDirectory', { backendId: 1, path: 'gc/a' })],
    ['gc/taken', () => s.client.fs('createDirectory', { backendId: 1, path: 'gc/taken' })],
    ['gc/b', () => s.client.fs('createDirectory', { backendId: 1, path: 'gc/b', metadata: { k: 'b' }, idempotencyKey: 'gc-b' })],
    ['gc/file.txt', () => s.client.write({ path: 'gc/file.txt', expectedVersion: 0 }, Buffer.from('v2'))],
    ['gc/new.txt', () => s.client.write({ path: 'gc/new.txt' }, Buffer.from('new content'))],
    ['gc/none/c', () => s.client.fs('createDirectory', { backendId: 1, path: 'gc/none/c' })],
    ['gc/c', () => s.client.fs('createDirectory', { backendId: 1, path: 'gc/c' })],
  ];
  const results = await Promise.allSettled(calls.map(([, call]) => call()));
  t.deepEqual(
    Object.fromEntries(calls.map(([p], i) => [p, refusal(results[i])])),
    {
      'gc/a': 'ok',
      'gc/taken': 'ALREADY_EXISTS NODE_EXISTS',
      'gc/b': 'ok',
      'gc/file.txt': 'ABORTED VERSION_MISMATCH',
      'gc/new.txt': 'ok',
      'gc/none/c': 'FAILED_PRECONDITION PARENT_MISSING',
      'gc/c': 'ok',
    },
  );

  // The four that succeeded committed in one transaction: their events carry its id in their cursors.
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.journalId] : []));
  await sub.until((x) => ok.every((id) => x.events.some((e) => e.type === 'filestore.command.completed' && Number(e.journalId) === id)), 5000, 'the events');
  const mine = sub.events.filter((e) => ok.includes(Number(e.journalId)));
  t.is(new Set(mine.map(transactionOf)).size, 1, 'one transaction for the batch');
  t.deepEqual(mine.map((e) => `${e.type} ${e.path}`).sort(), [
    'filestore.command.completed gc/a',
    'filestore.command.completed gc/b',
    'filestore.command.completed gc/c',
    'filestore.command.completed gc/new.txt',
    'filestore.node.created gc/a',
    'filestore.node.created gc/b',
    'filestore.node.created gc/c',
    'filestore.node.created gc/new.txt',
  ]);
  t.deepEqual(sub.events.filter((e) => !ok.includes(Number(e.journalId)) && !setup.includes(Number(e.journalId))).map((e) => `${e.type} ${e.path} ${e.journalId}`), [], 'the refused commands emitted nothing');
  // The batch statement writes the result and the events' nodes itself: they say what GetNode says,
  // and a retry with the same key replays exactly the node the first call answered.
  const b = (await s.client.fs('getNode', { backendId: 1, path: 'gc/b' })).node;
  t.deepEqual(b.metadata, { k: 'b' });
  for (const e of mine.filter((x) => x.path === 'gc/b')) t.deepEqual(e.node, { ...b, rollup: undefined }, e.type);
  const first = results[2].status === 'fulfilled' ? results[2].value.node : null;
  const retry = await s.client.fs('createDirectory', { backendId: 1, path: 'gc/b', metadata: { k: 'b' }, idempotencyKey: 'gc-b' });
  t.true(retry.idempotentReplay);
  t.deepEqual(retry.node, first);
  sub.cancel();

  const journal = await journalOf('gc');
  t.deepEqual(
    calls.map(([p]) => `${p} ${journal.get(p)}`),
    [
      'gc/a SUCCEEDED',
      'gc/taken FAILED NODE_EXISTS', // the setup's entry for it, older, is SUCCEEDED
      'gc/b SUCCEEDED',
      'gc/file.txt FAILED VERSION_MISMATCH',
      'gc/new.txt SUCCEEDED',
      'gc/none/c FAILED PARENT_MISSING',
      'gc/c SUCCEEDED',
    ],
  );
  t.deepEqual((await journalAll(s.client, { status: STATUS.PENDING })).entries, []);

  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
  const { rollup } = (await s.client.fs('getNode', { backendId: 1, path: 'gc' })).node;
  t.is(rollup.state, RollupState.ROLLUP_STATE_UP_TO_DATE);
  t.deepEqual([rollup.dirCount, rollup.fileCount, rollup.sizeBytes], [4, 2, 2 + 'new content'.length], 'taken, a, b, c; file.txt (v1) and new.txt');
  await nodesMatchDisk(t);
});

test.serial('a disk step that fails rolls its batch back; the batch-mates then run on their own and succeed', async (t) => {
  await s.client.fs('createDirectory', { backendId: 1, path: 'gd' });
  // Behind the service's back: a file where one command of the batch will make a directory.
  const untracked = path.join(s.root, 'gd', 'blocked');
  await writeFile(untracked, 'not ours\n');
  const paths = ['gd/x', 'gd/blocked', 'gd/y', 'gd/z'];
  const results = await Promise.allSettled(paths.map((p) => s.client.fs('createDirectory', { backendId: 1, path: p })));
  t.deepEqual(results.map(refusal), ['ok', 'FAILED_PRECONDITION BACKEND_CONFLICT', 'ok', 'ok']);
  const journal = await journalOf('gd');
  t.deepEqual(paths.map((p) => `${p} ${journal.get(p)}`), ['gd/x SUCCEEDED', 'gd/blocked FAILED BACKEND_CONFLICT', 'gd/y SUCCEEDED', 'gd/z SUCCEEDED']);
  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
  const { rollup } = (await s.client.fs('getNode', { backendId: 1, path: 'gd' })).node;
  t.deepEqual([rollup.dirCount, rollup.fileCount], [3, 0]);
  await rm(untracked);
  await nodesMatchDisk(t);
});

test.serial('one idempotency key twice in a batch (two paths): one takes effect, the other is refused as a reused key', async (t) => {
  await s.client.fs('createDirectory', { backendId: 1, path: 'gk' });
  const results = await Promise.allSettled(
    ['gk/one', 'gk/two'].map((p) => s.client.fs('createDirectory', { backendId: 1, path: p, idempotencyKey: 'gk-dup' })),
  );
  t.deepEqual(results.map(refusal).sort(), ['FAILED_PRECONDITION IDEMPOTENCY_KEY_REUSED', 'ok']);
  const made = (await Promise.all(['gk/one', 'gk/two'].map((p) => s.client.fs('getNode', { backendId: 1, path: p }).then(() => p, () => null)))).filter(Boolean);
  t.is(made.length, 1, 'exactly one directory was made');
  await nodesMatchDisk(t);
});
