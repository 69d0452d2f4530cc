// Change events across instances: two real server processes on one PostgreSQL database and one
// private redis-server. Events written through one instance reach subscribers of the other through a
// Redis wake-up (the poll interval alone would be far slower), and when Redis dies and comes back
// during a write load, writers never stall and every subscriber still gets every committed event
// exactly once, in cursor order. Runs only with FILESTORE_TEST_DB=pg.
//
// Latency is measured from the write's response, except for the time the event could not be read
// by anyone: readers only see events below the watermark, the oldest transaction still running in
// the whole PostgreSQL cluster (docs/decisions/002-event-cursors.md), so a long transaction of
// another test's database holds every subscriber back alike. The test watches the watermark itself
// and reports that time apart.
import test, { type ExecutionContext } from 'ava';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Event } from '../../gen/filestore/v1/events_service.js';
import { TX_SHIFT } from '../../src/events/cursor.js';
import { WAKE_CHANNEL } from '../../src/events/redis-wakeup.js';
import type { TestClient } from '../support/client.js';
import type { Subscriber } from '../support/events.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { makeTestEnv, spawnServer, type SpawnedServer, type TestEnv } from '../support/server.js';
import { journalAll, STATUS, statusName } from '../e2e/helpers.js';

const COMPLETED = 'filestore.command.completed';
const FAST_MS = 1000;

interface Cluster {
  redis: TestRedis;
  a: SpawnedServer;
  b: SpawnedServer;
  env: TestEnv;
  /** A connection of the test's own to the servers' database. */
  db: pg.Client;
  subs: Subscriber[];
}

/** Fails the test (clearly) outside the PostgreSQL run: two processes cannot share a PGlite directory. */
function requirePostgres(): void {
  if (process.env.FILESTORE_TEST_DB !== 'pg') {
    throw new Error(
      `test/scale-out needs a PostgreSQL shared by two server processes: run it with FILESTORE_TEST_DB=pg (FILESTORE_TEST_DB is ${JSON.stringify(process.env.FILESTORE_TEST_DB ?? '')})`,
    );
  }
}

/**
 * Redis, then servers A and B on one database and one shared backend root, each with its own data
 * directory and instance id. Everything is torn down by t.teardown, even when a step fails.
 */
async function startCluster(t: ExecutionContext, extra: Record<string, string>): Promise<Cluster> {
  requirePostgres();
  const parts: Partial<Cluster> & { subs: Subscriber[] } = { subs: [] };
  t.teardown(async () => {
    for (const s of parts.subs) s.cancel();
    await Promise.all([parts.a?.kill(), parts.b?.kill()]);
    await parts.redis?.stop();
    await parts.db?.end().catch(() => {});
    await parts.env?.cleanup();
  });
  parts.env = await makeTestEnv();
  if (!parts.env.env.DATABASE_URL) throw new Error('makeTestEnv gave no DATABASE_URL under FILESTORE_TEST_DB=pg');
  parts.redis = await startRedis();
  const dir = parts.env.dataDir;
  const backendsPath = path.join(dir, 'backends.json');
  await writeFile(backendsPath, JSON.stringify({ backends: [{ id: 1, name: 'shared', kind: 'local', root: path.join(dir, 'shared'), create: true }] }));
  const envFor = (name: string) => ({
    ...parts.env!.env,
    FILESTORE_DATA_DIR: path.join(dir, name),
    FILESTORE_INSTANCE_ID: `fanout-${name}`,
    FILESTORE_BACKENDS_PATH: backendsPath,
    REDIS_URL: parts.redis!.url,
    ...extra,
  });
  const [a, b] = await Promise.allSettled([spawnServer(envFor('a')), spawnServer(envFor('b'))]);
  if (a.status === 'fulfilled') parts.a = a.value;
  if (b.status === 'fulfilled') parts.b = b.value;
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  parts.db = new pg.Client({ connectionString: parts.env.env.DATABASE_URL });
  await parts.db.connect();
  const cluster = parts as Cluster;
  await redisLinksUp(cluster);
  return cluster;
}

/** Opens a subscription that the cluster's teardown cancels. */
function subscribe(cluster: Cluster, c: TestClient, req: Parameters<TestClient['subscribe']>[0]): Subscriber {
  const s = c.subscribe(req);
  cluster.subs.push(s);
  return s;
}

/**
 * Waits until both servers hold their wake-up connections to Redis — two publishers, two subscriber
 * connections listening on the wake channel — as Redis itself reports them. Returns how long it took.
 */
async function redisLinksUp(cluster: Cluster, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  const r = new Redis(cluster.redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await r.connect();
    for (;;) {
      const list = (await r.client('LIST')) as string;
      const pubs = (list.match(/name=filestore-events-pub /g) ?? []).length;
      const subs = (list.match(/name=filestore-events-sub /g) ?? []).length;
      const [, listeners] = (await r.pubsub('NUMSUB', WAKE_CHANNEL)) as [string, number];
      if (pubs === 2 && subs === 2 && Number(listeners) === 2) break;
      if (performance.now() - started > timeoutMs) {
        throw new Error(`the servers did not (re)connect to Redis in ${timeoutMs} ms: ${pubs} publishers, ${subs} subscriber connections, ${listeners} listening on ${WAKE_CHANNEL}`);
      }
      await sleep(25);
    }
  } finally {
    r.disconnect();
  }
  // ioredis names a connection before its ready check: give the publishers a moment to turn ready.
  await sleep(100);
  return Math.round(performance.now() - started);
}

/** Waits until subscriptions run (their start position is fixed): each sent a heartbeat. */
async function started(...subs: Subscriber[]): Promise<void> {
  await Promise.all(subs.map((s) => s.until((x) => x.heartbeats.length > 0, 5000, 'the first heartbeat')));
}

const key = (e: Pick<Event, 'cursor' | 'type' | 'backendId' | 'path' | 'sourcePath' | 'journalId'>) =>
  `${e.cursor} ${e.type} ${e.backendId}:${e.path}${e.sourcePath ? ` <- ${e.sourcePath}` : ''} j${e.journalId}`;

/**
 * Every event in the outbox table, in cursor order, rendered by `key`; read once the rollup workers
 * folded every delta, since their filestore.rollup.updated events come after the writes that caused them.
 */
async function outbox(db: pg.Client, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  while (Number((await db.query('SELECT count(*) AS n FROM rollup_deltas')).rows[0].n) > 0) {
    if (Date.now() > deadline) throw new Error(`rollup deltas still unfolded after ${timeoutMs} ms`);
    await sleep(20);
  }
  const { rows } = await db.query(
    `SELECT cursor::text AS cursor, type, backend_id::int AS "backendId", path, coalesce(source_path, '') AS "sourcePath",
            coalesce(journal_id, 0)::int AS "journalId"
     FROM events ORDER BY cursor`,
  );
  return rows.map(key);
}

function strictlyIncreasing(events: Event[]): string | null {
  for (let i = 1; i < events.length; i++) {
    if (BigInt(events[i].cursor) <= BigInt(events[i - 1].cursor)) return `event ${i}: ${key(events[i])} after ${key(events[i - 1])}`;
  }
  return null;
}

/** Resolves (with the time) once the watermark has passed every event of the command: from then on any reader may deliver them. */
async function readableAt(db: pg.Client, journalId: number, timeoutMs = 20_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  const { rows } = await db.query('SELECT max(cursor)::text AS last FROM events WHERE journal_id = $1', [journalId]);
  if (!rows[0].last) throw new Error(`journal entry ${journalId} succeeded but has no events`);
  for (;;) {
    const { rows: w } = await db.query(`SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::int8 << ${TX_SHIFT}) > $1::int8 AS passed`, [rows[0].last]);
    if (w[0].passed) return performance.now();
    if (performance.now() > deadline) throw new Error(`the watermark did not pass journal entry ${journalId}'s events in ${timeoutMs} ms (a transaction stays open)`);
    await sleep(2);
  }
}

interface Delivery {
  /** From the write's response to the completion event's arrival. */
  total: number;
  /** Of which the events could not be read by anyone (the watermark had not passed them). */
  blocked: number;
  /** From the later of response and readability to arrival: what the wake-up path costs. */
  latency: number;
}

/** Times the arrival at `sub` of the completion event of `journalId`, whose write just returned. */
async function delivery(sub: Subscriber, db: pg.Client, journalId: number, what: string): Promise<Delivery> {
  const t0 = performance.now();
  const hasIt = (s: Subscriber) => s.events.some((e) => e.type === COMPLETED && e.journalId === journalId);
  const [arrived, readable] = await Promise.all([sub.until(hasIt, 20_000, what).then(() => performance.now()), readableAt(db, journalId)]);
  return {
    total: Math.round(arrived - t0),
    blocked: Math.round(Math.max(0, readable - t0)),
    latency: Math.round(Math.max(0, arrived - Math.max(t0, readable))),
  };
}

const show = (d: Delivery) => (d.blocked > 20 ? `${d.total} (${d.blocked} of it unreadable)` : `${d.total}`);

/** Waits until `sub` is idle at or past `cursor`: a heartbeat carrying it arrived, so nothing before it is still on the way. */
async function settled(sub: Subscriber, cursor: string, timeoutMs: number, name: string): Promise<void> {
  await sub.until((s) => s.heartbeats.some((h) => BigInt(h.cursor) >= BigInt(cursor)), timeoutMs, `${name} to reach cursor ${cursor}`);
}

/** Compares what a subscriber got with the outbox; on a mismatch, logs what differs and the servers' warnings. */
function sameAsOutbox(t: ExecutionContext, name: string, events: Event[], all: string[], servers: SpawnedServer[]): void {
  t.is(strictlyIncreasing(events), null, `${name}: cursors strictly increase`);
  const got = events.map(key);
  const seen = new Set<string>();
  const dupes = got.filter((k) => seen.has(k) || !seen.add(k));
  const missing = all.filter((k) => !seen.has(k));
  const expected = new Set(all);
  const extra = got.filter((k) => !expected.has(k));
  if (dupes.length || missing.length || extra.length) {
    const warnings = servers.flatMap((s, i) => s.output.filter((l) => !l.includes('"level":30')).map((l) => `${'AB'[i]}: ${l}`));
    t.log(`${name}: ${missing.length} missing, ${dupes.length} duplicated, ${extra.length} unknown; got ${got.length} of ${all.length}\n` +
      `first missing: ${missing.slice(0, 10).join(' | ')}\nfirst got: ${got.slice(0, 5).join(' | ')}\nserver warnings:\n${warnings.join('\n')}`);
  }
  t.deepEqual({ missing: missing.slice(0, 5), dupes: dupes.slice(0, 5), extra: extra.slice(0, 5) }, { missing: [], dupes: [], extra: [] }, `${name}: events missing / duplicated / unknown`);
  t.deepEqual(got, all, `${name} sees exactly the outbox`);
}

test.serial('two server processes on one PostgreSQL and one Redis', async (t) => {
  // A 30 s poll interval: anything A sees within a second came through a Redis wake-up.
  const cluster = await startCluster(t, { FILESTORE_EVENTS_POLL_MS: '30000', FILESTORE_EVENTS_HEARTBEAT_MS: '250' });
  const { a, b } = cluster;
  const onA = subscribe(cluster, a.client, { clientName: 'fanout-a' });
  const onB = subscribe(cluster, b.client, { clientName: 'fanout-b' });
  await started(onA, onB);

  const writes: { what: string; run: () => Promise<{ journalId: number }>; expect: string[] }[] = [
    { what: 'CreateDirectory docs', run: () => b.client.fs('createDirectory', { backendId: 1, path: 'docs' }), expect: ['filestore.node.created docs', `${COMPLETED} docs`] },
    {
      what: 'CreateDirectory media/photos (parents)',
      run: () => b.client.fs('createDirectory', { backendId: 1, path: 'media/photos', parents: true }),
      expect: ['filestore.node.created media', 'filestore.node.created media/photos', `${COMPLETED} media/photos`],
    },
    { what: 'WriteFile docs/a.txt', run: () => b.client.write({ path: 'docs/a.txt' }, Buffer.from('alpha\n')), expect: ['filestore.node.created docs/a.txt', `${COMPLETED} docs/a.txt`] },
    {
      what: 'WriteFile media/photos/p.bin',
      run: () => b.client.write({ path: 'media/photos/p.bin' }, Buffer.alloc(100_000, 7)),
      expect: ['filestore.node.created media/photos/p.bin', `${COMPLETED} media/photos/p.bin`],
    },
    {
      what: 'WriteFile docs/a.txt (overwrite)',
      run: () => b.client.write({ path: 'docs/a.txt', overwrite: true }, Buffer.from('beta\n')),
      expect: ['filestore.node.updated docs/a.txt', `${COMPLETED} docs/a.txt`],
    },
  ];
  const deliveries: Delivery[] = [];
  for (const w of writes) {
    const { journalId } = await w.run();
    const d = await delivery(onA, cluster.db, journalId, `A to see "${w.what}" (journal ${journalId}) written through B`);
    deliveries.push(d);
    t.true(d.latency < FAST_MS, `A saw "${w.what}" ${d.latency} ms after it became readable (${d.total} ms after the response)`);
    const seen = onA.events.filter((e) => e.journalId === journalId).map((e) => `${e.type} ${e.path}`);
    t.deepEqual(seen, w.expect, `events of ${w.what} as seen on A`);
    await sleep(50);
  }
  t.log(`B→A delivery per write (ms): ${deliveries.map(show).join(', ')}`);

  const all = await outbox(cluster.db);
  const last = all.at(-1)!.split(' ')[0];
  await Promise.all([settled(onA, last, 5000, 'A'), settled(onB, last, 5000, 'B')]);
  t.deepEqual(onA.events.map(key), onB.events.map(key), 'A and B see the same events (cursors, types, paths, journal ids)');
  sameAsOutbox(t, 'A', onA.events, all, [a, b]);
  t.is(onA.error, null);
  t.is(onB.error, null);
});

interface Op {
  via: 'A' | 'B';
  start: number;
  end: number;
  journalId?: number;
  error?: string;
}

test.serial('Redis killed and restarted during a write load', async (t) => {
  // The poll interval is the fallback while Redis is away; it is long enough (2 s) that delivery
  // within a second after the restart can only come from wake-ups again.
  const POLL_MS = 2000;
  const cluster = await startCluster(t, { FILESTORE_EVENTS_POLL_MS: String(POLL_MS), FILESTORE_EVENTS_HEARTBEAT_MS: '250' });
  const { a, b, redis } = cluster;
  const onA = subscribe(cluster, a.client, { clientName: 'load-a' });
  const onB = subscribe(cluster, b.client, { clientName: 'load-b' });
  const firstLeg = subscribe(cluster, a.client, { clientName: 'load-resume-1' });
  await started(onA, onB, firstLeg);

  // 8 writers, 4 through each server, creating directories (and a few files) until told to stop.
  const ops: Op[] = [];
  let stop = false;
  const writer = async (i: number) => {
    const via = i % 2 ? 'B' : 'A';
    const c = via === 'A' ? a.client : b.client;
    for (let n = 0; !stop; n++) {
      const op: Op = { via, start: performance.now(), end: 0 };
      ops.push(op);
      try {
        const res =
          i % 4 === 3
            ? await c.write({ path: `load/w${i}/f${n}.txt`, parents: true }, Buffer.from(`writer ${i} file ${n}\n`))
            : await c.fs('createDirectory', { backendId: 1, path: `load/w${i}/d${n}`, parents: true });
        op.journalId = res.journalId;
      } catch (err) {
        op.error = (err as Error).message;
      }
      op.end = performance.now();
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, (_, i) => writer(i)));
  const outage = { from: 0, to: 0 };
  let resumeAfter = '';
  let secondLeg: Subscriber | null = null;
  try {
    await sleep(2000);
    await redis.kill();
    outage.from = performance.now();
    await sleep(1000);
    // A subscription on A leaves while Redis is down and resumes on B from its last cursor.
    firstLeg.cancel();
    await firstLeg.done;
    resumeAfter = firstLeg.lastCursor();
    secondLeg = subscribe(cluster, b.client, { afterCursor: resumeAfter, clientName: 'load-resume-2' });
    await sleep(1000);
    outage.to = performance.now();
    await redis.restart();
    await sleep(2000);
  } finally {
    stop = true;
    await load;
  }
  const failed = ops.filter((o) => o.error);
  const ok = ops.filter((o) => !o.error);
  const duringOutage = ok.filter((o) => o.start >= outage.from && o.end <= outage.to);
  const slowest = Math.round(Math.max(0, ...duringOutage.map((o) => o.end - o.start)));
  t.log(
    `load: ${ok.length} writes committed (${ok.filter((o) => o.via === 'A').length} via A, ${ok.filter((o) => o.via === 'B').length} via B), ` +
      `${failed.length} failed; ${duringOutage.length} committed while Redis was down (${Math.round(outage.to - outage.from)} ms), the slowest of those in ${slowest} ms`,
  );
  t.deepEqual(failed.map((o) => o.error), [], 'no write fails');
  t.true(duringOutage.length > 0, 'writers keep committing while Redis is down');
  t.truthy(resumeAfter, 'the first leg of the resumed subscription got a cursor');

  // Delivery across instances is fast again once both servers are back on Redis.
  const reconnectMs = await redisLinksUp(cluster);
  const after: string[] = [];
  for (let i = 0; i < 6; i++) {
    const [from, to, sub] = i % 2 ? (['A', 'B', onB] as const) : (['B', 'A', onA] as const);
    const { journalId } = await (from === 'A' ? a : b).client.fs('createDirectory', { backendId: 1, path: `after/${i}`, parents: true });
    ok.push({ via: from, start: 0, end: 0, journalId });
    const d = await delivery(sub, cluster.db, journalId, `${to} to see after/${i} written through ${from}`);
    after.push(`${from}→${to} ${show(d)}`);
    t.true(d.latency < FAST_MS, `${from}→${to} after the Redis restart: seen ${d.latency} ms after it became readable (${d.total} ms after the response)`);
    await sleep(20);
  }
  t.log(`both servers back on Redis ${reconnectMs} ms after the load ended; delivery after the restart (ms): ${after.join(', ')}`);

  // Every subscriber gets exactly the outbox: every event once, in cursor order.
  const all = await outbox(cluster.db);
  const last = all.at(-1)!.split(' ')[0];
  await Promise.all([settled(onA, last, 10_000, 'A'), settled(onB, last, 10_000, 'B'), settled(secondLeg!, last, 10_000, 'the resumed subscription')]);
  sameAsOutbox(t, 'A', onA.events, all, [a, b]);
  sameAsOutbox(t, 'B', onB.events, all, [a, b]);
  sameAsOutbox(t, 'resumed (A, then B)', [...firstLeg.events, ...secondLeg!.events], all, [a, b]);
  t.true(secondLeg!.events.length > 0 && BigInt(secondLeg!.events[0].cursor) > BigInt(resumeAfter), 'the resumed leg starts after its cursor');
  for (const s of [onA, onB, secondLeg!]) t.is(s.error, null);

  // One completion event per SUCCEEDED journal entry, and the SUCCEEDED entries are the writes that returned OK.
  const { entries } = await journalAll(a.client, {}, 500);
  t.deepEqual(entries.filter((e) => e.status !== STATUS.SUCCEEDED).map((e) => `${e.id} ${e.command} ${e.path} ${statusName(e.status)}`), [], 'journal entries that did not succeed');
  const succeeded = entries.map((e) => e.id).sort((x, y) => x - y);
  const completions = onA.events.filter((e) => e.type === COMPLETED).map((e) => e.journalId).sort((x, y) => x - y);
  t.deepEqual(completions, succeeded, 'one filestore.command.completed per SUCCEEDED journal entry');
  t.deepEqual(ok.map((o) => o.journalId!).sort((x, y) => x - y), succeeded, 'the SUCCEEDED entries are exactly the writes that returned OK');
  t.log(`${all.length} events from ${succeeded.length} commands; resumed after cursor ${resumeAfter} (${firstLeg.events.length} + ${secondLeg!.events.length} events)`);
});
