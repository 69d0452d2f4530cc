// EventsService.Subscribe as a consumer sees it: what each command emits, filters, resume, heartbeats,
// retention, and refusals of bad requests (ARCHITECTURE §3 invariant 5, §4).
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { Event } from '../../gen/filestore/v1/events_service.js';
import { pruneEvents } from '../../src/events/retention.js';
import { TestClient } from '../support/client.js';
import type { Subscriber } from '../support/events.js';
import { errorInfo } from '../support/observe.js';
import { startTestServer, type TestServer } from '../support/server.js';

const TOKEN = 'events-test-token-0123456789';
let s: TestServer;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'filestore-events-'));
  const backends = path.join(dir, 'backends.yaml');
  writeFileSync(backends, `backends:\n  - { id: 1, name: one, kind: local, root: ${dir}/one, create: true }\n  - { id: 2, name: two, kind: local, root: ${dir}/two, create: true }\n`);
  s = await startTestServer({ ...COMMAND_EVENTS_ONLY, FILESTORE_BACKENDS_PATH: backends, FILESTORE_EVENTS_HEARTBEAT_MS: '300', FILESTORE_TOKENS: `carol:${TOKEN}` });
});
test.after.always(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

// The streams here are checked event for event against the commands that made them. Rollup events
// come later, from the worker, and are checked in rollups.test.ts and events-gap-free.test.ts.
const COMMAND_EVENTS_ONLY = { FILESTORE_ROLLUPS: 'off' };

const mkdir = (p: string, backendId = 1) => s.client.fs('createDirectory', { backendId, path: p, parents: true });
const summary = (e: Event) => `${e.type} ${e.backendId}:${e.path}${e.sourcePath ? ` <- ${e.sourcePath}` : ''}`;

/** Subscribes from now and returns once the subscription is surely attached (a heartbeat arrived). */
async function subscribeNow(req: Parameters<TestClient['subscribe']>[0] = {}): Promise<Subscriber> {
  const sub = s.client.subscribe(req);
  await sub.until((x) => x.heartbeats.length > 0, 5000, 'the first heartbeat');
  return sub;
}

/** The events of one command (by journal id), as `summary` lines. */
function eventsOf(sub: Subscriber, journalId: number): string[] {
  return sub.events.filter((e) => Number(e.journalId) === Number(journalId)).map(summary);
}

async function completed(sub: Subscriber, journalId: number): Promise<void> {
  await sub.until((x) => x.events.some((e) => e.type === 'filestore.command.completed' && Number(e.journalId) === Number(journalId)), 5000, `command ${journalId}`);
}

function assertOrdered(t: ExecutionContext, events: Event[]): void {
  for (let i = 1; i < events.length; i++) t.true(BigInt(events[i].cursor) > BigInt(events[i - 1].cursor), `cursor ${events[i].cursor} after ${events[i - 1].cursor}`);
}

test.serial('each command emits its node events, then command.completed, with journal id, command and principal', async (t) => {
  const sub = await subscribeNow();
  const mk = await mkdir('cmd/a/b');
  const created = await s.client.write({ path: 'cmd/a/f.txt' }, Buffer.from('one'));
  const updated = await s.client.write({ path: 'cmd/a/f.txt', overwrite: true }, Buffer.from('two'));
  const meta = await s.client.fs('updateNodeMetadata', { backendId: 1, path: 'cmd/a/f.txt', metadata: { k: 'v' }, merge: true });
  await s.client.write({ path: 'cmd/g.txt' }, Buffer.from('gee'));
  const moved = await s.client.fs('moveNode', { backendId: 1, path: 'cmd/a/f.txt', targetPath: 'cmd/g.txt', overwrite: true });
  const copied = await s.client.fs('copyNode', { backendId: 1, path: 'cmd/a', targetPath: 'cmd/c' });
  const deleted = await s.client.fs('deleteNode', { backendId: 1, path: 'cmd/c', recursive: true });
  await completed(sub, deleted.journalId);

  t.deepEqual(eventsOf(sub, mk.journalId), [
    'filestore.node.created 1:cmd',
    'filestore.node.created 1:cmd/a',
    'filestore.node.created 1:cmd/a/b',
    'filestore.command.completed 1:cmd/a/b',
  ]);
  t.deepEqual(eventsOf(sub, created.journalId), ['filestore.node.created 1:cmd/a/f.txt', 'filestore.command.completed 1:cmd/a/f.txt']);
  t.deepEqual(eventsOf(sub, updated.journalId), ['filestore.node.updated 1:cmd/a/f.txt', 'filestore.command.completed 1:cmd/a/f.txt']);
  t.deepEqual(eventsOf(sub, meta.journalId), ['filestore.node.updated 1:cmd/a/f.txt', 'filestore.command.completed 1:cmd/a/f.txt']);
  t.deepEqual(eventsOf(sub, moved.journalId), [
    'filestore.node.deleted 1:cmd/g.txt',
    'filestore.node.moved 1:cmd/g.txt <- cmd/a/f.txt',
    'filestore.command.completed 1:cmd/g.txt <- cmd/a/f.txt',
  ]);
  t.deepEqual(eventsOf(sub, copied.journalId), ['filestore.node.copied 1:cmd/c <- cmd/a', 'filestore.command.completed 1:cmd/c <- cmd/a']);
  t.deepEqual(eventsOf(sub, deleted.journalId), ['filestore.node.deleted 1:cmd/c', 'filestore.command.completed 1:cmd/c'], 'a deleted tree is one event');

  assertOrdered(t, sub.events);
  for (const e of sub.events) {
    t.is(e.principal, 'carol');
    t.truthy(e.command);
    t.truthy(e.occurredAt);
  }
  const upd = sub.events.find((e) => Number(e.journalId) === Number(meta.journalId))!;
  t.deepEqual(upd.node?.metadata, { k: 'v' }, 'the node as it is after the change');
  t.is(Number(upd.node?.version), 3);
  const del = sub.events.find((e) => e.type === 'filestore.node.deleted' && e.path === 'cmd/c')!;
  t.is(del.node?.state, 4 /* NODE_STATE_DELETED */);
  sub.cancel();
});

test.serial('refused commands and idempotent replays emit nothing', async (t) => {
  const sub = await subscribeNow({ pathPrefix: 'quiet' });
  const first = await s.client.fs('createDirectory', { backendId: 1, path: 'quiet', idempotencyKey: 'q-1' });
  await completed(sub, first.journalId);
  const before = sub.events.length;
  const replay = await s.client.fs('createDirectory', { backendId: 1, path: 'quiet', idempotencyKey: 'q-1' });
  t.true(replay.idempotentReplay);
  await t.throwsAsync(s.client.fs('createDirectory', { backendId: 1, path: 'quiet' }), { code: status.ALREADY_EXISTS });
  await t.throwsAsync(s.client.fs('createDirectory', { backendId: 1, path: 'quiet/x/y' }), { code: status.FAILED_PRECONDITION });
  await t.throwsAsync(s.client.fs('createDirectory', { backendId: 1, path: 'quiet/../x' }), { code: status.INVALID_ARGUMENT });
  const marker = await mkdir('quiet/marker');
  await completed(sub, marker.journalId);
  t.deepEqual(sub.events.slice(before).map(summary), ['filestore.node.created 1:quiet/marker', 'filestore.command.completed 1:quiet/marker']);
  sub.cancel();
});

test.serial('filters: type, backend, and a path prefix that does not match its sibling', async (t) => {
  const byType = await subscribeNow({ eventTypes: ['filestore.node.deleted'] });
  const byBackend = await subscribeNow({ backendId: 2 });
  const byPrefix = await subscribeNow({ pathPrefix: 'f/a/b' });
  const byBoth = await subscribeNow({ backendId: 1, pathPrefix: 'f/a/b', eventTypes: ['filestore.node.created'] });
  const all = await subscribeNow();
  await mkdir('f/a/b/c');
  await mkdir('f/a/bc/d');
  await mkdir('f/a/b', 2);
  await s.client.fs('moveNode', { backendId: 1, path: 'f/a/bc/d', targetPath: 'f/a/b/d' });
  await s.client.fs('moveNode', { backendId: 1, path: 'f/a/b/c', targetPath: 'f/elsewhere' });
  const last = await s.client.fs('deleteNode', { backendId: 1, path: 'f/a/bc' });
  await completed(all, last.journalId);
  const end = BigInt(all.events.at(-1)!.cursor);
  // A heartbeat's cursor is the subscriber's position: once it passed the last write, nothing more is coming.
  for (const sub of [byType, byBackend, byPrefix, byBoth]) {
    await sub.until((x) => x.heartbeats.some((h) => BigInt(h.cursor) >= end), 5000, 'a heartbeat past the last write');
  }
  t.deepEqual(byType.events.map(summary), ['filestore.node.deleted 1:f/a/bc']);
  t.deepEqual(byBackend.events.map(summary), [
    'filestore.node.created 2:f',
    'filestore.node.created 2:f/a',
    'filestore.node.created 2:f/a/b',
    'filestore.command.completed 2:f/a/b',
  ]);
  t.deepEqual(byPrefix.events.map(summary), [
    'filestore.node.created 1:f/a/b',
    'filestore.node.created 1:f/a/b/c',
    'filestore.command.completed 1:f/a/b/c',
    'filestore.node.created 2:f/a/b',
    'filestore.command.completed 2:f/a/b',
    'filestore.node.moved 1:f/a/b/d <- f/a/bc/d',
    'filestore.command.completed 1:f/a/b/d <- f/a/bc/d',
    'filestore.node.moved 1:f/elsewhere <- f/a/b/c',
    'filestore.command.completed 1:f/elsewhere <- f/a/b/c',
  ]);
  t.deepEqual(byBoth.events.map(summary), ['filestore.node.created 1:f/a/b', 'filestore.node.created 1:f/a/b/c']);
  for (const sub of [byType, byBackend, byPrefix, byBoth, all]) sub.cancel();
});

test.serial('resuming after any cursor yields exactly the later events, in order', async (t) => {
  const sub = await subscribeNow({ pathPrefix: 'resume' });
  let last = 0;
  for (let i = 0; i < 6; i++) last = (await mkdir(`resume/d${i}`)).journalId;
  await completed(sub, last);
  const seen = sub.events;
  sub.cancel();
  for (const from of [0, 3, seen.length - 2, seen.length - 1]) {
    const again = s.client.subscribe({ pathPrefix: 'resume', afterCursor: seen[from].cursor });
    await again.until((x) => x.events.length >= seen.length - from - 1 && x.heartbeats.length > 0, 5000, `resume after #${from}`);
    t.deepEqual(again.events.map((e) => e.cursor), seen.slice(from + 1).map((e) => e.cursor), `after #${from}`);
    again.cancel();
  }
});

test.serial('heartbeats on an idle stream carry a cursor that is safe to resume after', async (t) => {
  const sub = await subscribeNow({ pathPrefix: 'hb/watched' });
  await mkdir('hb/other');
  const seen = await mkdir('hb/watched/x');
  await completed(sub, seen.journalId);
  await mkdir('hb/other2');
  const n = sub.heartbeats.length;
  await sub.until((x) => x.heartbeats.length >= n + 2, 5000, 'two more heartbeats');
  const hb = sub.heartbeats.at(-1)!;
  t.is(hb.type, 'filestore.heartbeat');
  t.true(BigInt(hb.cursor) >= BigInt(sub.events.at(-1)!.cursor), 'the heartbeat moved past the last event');
  sub.cancel();
  const next = await mkdir('hb/watched/y');
  const resumed = s.client.subscribe({ pathPrefix: 'hb/watched', afterCursor: hb.cursor });
  await completed(resumed, next.journalId);
  t.deepEqual(resumed.events.map(summary), ['filestore.node.created 1:hb/watched/y', 'filestore.command.completed 1:hb/watched/y']);
  resumed.cancel();
});

test.serial('bad requests are refused with a precise status and reason', async (t) => {
  const refusal = async (req: Parameters<TestClient['subscribe']>[0]) => {
    const err = await s.client.subscribe(req).refusal();
    return { code: status[err.code], reason: errorInfo(err).reason, message: err.details };
  };
  for (const afterCursor of ['abc', '-5', '1e9', '18446744073709551616']) {
    const r = await refusal({ afterCursor });
    t.is(r.code, 'INVALID_ARGUMENT', afterCursor);
    t.is(r.reason, 'CURSOR_INVALID');
  }
  const unknown = await refusal({ eventTypes: ['filestore.node.created', 'filestore.node.renamed'] });
  t.like(unknown, { code: 'INVALID_ARGUMENT', reason: 'EVENT_TYPE_UNKNOWN' });
  t.regex(unknown.message, /filestore\.node\.renamed.*filestore\.node\.created/);
  t.like(await refusal({ afterCursor: '9223372036854775000' }), { code: 'INVALID_ARGUMENT', reason: 'CURSOR_AHEAD' });
  t.like(await refusal({ pathPrefix: 'a/../b' }), { code: 'INVALID_ARGUMENT' });
  const anonymous = new TestClient(s.client.address);
  try {
    const err = await anonymous.subscribe({}).refusal();
    t.is(err.code, status.UNAUTHENTICATED);
  } finally {
    anonymous.close();
  }
});

test.serial('after retention pruned events, an older cursor gets OUT_OF_RANGE naming the oldest resumable cursor', async (t) => {
  const sub = await subscribeNow({ pathPrefix: 'old' });
  const a = await mkdir('old/a');
  await completed(sub, a.journalId);
  const early = sub.events[0].cursor;
  sub.cancel();
  await pruneEvents(s.app.services.db, [1, 2], new Date(Date.now() + 60_000));
  const b = await mkdir('old/b');

  const err = await s.client.subscribe({ afterCursor: early }).refusal();
  t.is(err.code, status.OUT_OF_RANGE);
  const info = errorInfo(err);
  t.is(info.reason, 'CURSOR_EXPIRED');
  const oldest = info.metadata.oldest_cursor;
  t.true(BigInt(oldest) > BigInt(early));
  t.true(err.details.includes(oldest), 'the message names the oldest cursor');

  const fromOldest = s.client.subscribe({ pathPrefix: 'old', afterCursor: oldest });
  await completed(fromOldest, b.journalId);
  t.deepEqual(fromOldest.events.map(summary), ['filestore.node.created 1:old/b', 'filestore.command.completed 1:old/b']);
  fromOldest.cancel();
});

test('the retention job prunes events older than FILESTORE_EVENTS_RETENTION_HOURS by itself', async (t) => {
  const short = await startTestServer({ ...COMMAND_EVENTS_ONLY, FILESTORE_EVENTS_RETENTION_HOURS: String(1 / 3600), FILESTORE_EVENTS_PRUNE_INTERVAL_MS: '1000', FILESTORE_EVENTS_HEARTBEAT_MS: '200' });
  try {
    const sub = short.client.subscribe({});
    await sub.until((x) => x.heartbeats.length > 0, 5000, 'a heartbeat');
    const made = await short.client.fs('createDirectory', { backendId: 1, path: 'r' });
    await sub.until((x) => x.events.some((e) => Number(e.journalId) === Number(made.journalId)), 5000, 'the event');
    const cursor = sub.events[0].cursor;
    sub.cancel();
    const deadline = Date.now() + 10_000;
    let err: ServiceError | null = null;
    while (!err && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      const probe = short.client.subscribe({ afterCursor: String(BigInt(cursor) - 1n) });
      await probe.until((x) => !!x.error || x.events.length > 0 || x.heartbeats.length > 0, 5000, 'an answer');
      err = probe.error;
      probe.cancel();
    }
    t.is(err?.code, status.OUT_OF_RANGE, 'the event was pruned within 10 s');
  } finally {
    await short.close();
  }
});

test('a draining server ends event streams with UNAVAILABLE so that subscribers resume elsewhere, without waiting for the grace period', async (t) => {
  const other = await startTestServer({ ...COMMAND_EVENTS_ONLY, FILESTORE_EVENTS_HEARTBEAT_MS: '200' });
  const sub = other.client.subscribe({});
  await sub.until((x) => x.heartbeats.length > 0, 5000, 'a heartbeat');
  const started = Date.now();
  await other.app.stop(20_000);
  t.true(Date.now() - started < 5000, `stopped in ${Date.now() - started} ms`);
  await sub.done;
  t.is(sub.error?.code, status.UNAVAILABLE);
  t.is(errorInfo(sub.error!).reason, 'SERVER_SHUTTING_DOWN');
  other.client.close();
  await other.close().catch(() => {}); // already stopped: only the temp dirs remain
});
