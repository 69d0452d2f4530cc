// Rollups as a user sees them: state (PENDING until folded, STALE until recomputed, then
// UP_TO_DATE), last_calculated_at, coalesced filestore.rollup.updated events, a recompute that
// repairs drift, and the numbers kept ready for metrics. The server runs no workers at first, so
// the test can look at what waits; it then starts them on the server's own queue.
import test from 'ava';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { RollupState } from '../../gen/filestore/v1/node.js';
import { freshness } from '../../src/db/rollups-repo.js';
import { FOLD_JOB, RECOMPUTE_JOB } from '../../src/rollups/scheduler.js';
import { startRollupWorkers } from '../../src/rollups/workers.js';
import { testDbKind } from '../support/database.js';
import { deleteKeys, SHARED_REDIS_URL, uniquePrefix } from '../support/redis.js';
import { rollupMismatches, rollupsSettled } from '../support/rollups.js';
import { startTestServer, type TestServer } from '../support/server.js';

const prefix = uniquePrefix('rollups');
let s: TestServer;

test.before(async () => {
  const queues: Record<string, string> = testDbKind === 'pg' ? { REDIS_URL: SHARED_REDIS_URL, FILESTORE_QUEUE_PREFIX: prefix } : {};
  // Workers off: on PostgreSQL as configured in service mode; on PGlite (no Redis, where the setting is
  // refused) by hand, so that this process's own inline queue holds the jobs until the test starts workers.
  s = await startTestServer(
    { ...queues, FILESTORE_ROLLUP_FOLD_DELAY_MS: '50', FILESTORE_EVENTS_HEARTBEAT_MS: '200', FILESTORE_JOB_ATTEMPTS: '5', FILESTORE_JOB_BACKOFF_MS: '2000' },
    (config) => ({ ...config, jobs: { ...config.jobs, runWorkers: false } }),
  );
});

test.after.always(async () => {
  await s?.close();
  if (testDbKind === 'pg') await deleteKeys(prefix);
});

const rollupOf = async (path: string) => (await s.client.fs('getNode', { backendId: 1, path })).node.rollup;

test.serial('PENDING while deltas wait, STALE while a recompute waits, then exact and UP_TO_DATE', async (t) => {
  const before = new Date();
  await s.client.fs('createDirectory', { backendId: 1, path: 'p/q', parents: true });
  for (let i = 0; i < 5; i++) await s.client.write({ path: `p/q/f${i}` }, Buffer.alloc(1000 * (i + 1)));
  await s.client.fs('createDirectory', { backendId: 1, path: 'other/sub', parents: true });
  for (let i = 0; i < 3; i++) await s.client.write({ path: `other/sub/g${i}` }, Buffer.alloc(10));

  const pending = await rollupOf('p');
  t.is(pending.state, RollupState.ROLLUP_STATE_PENDING, 'nothing folded yet: the figures may lag');
  t.is(pending.fileCount, 0);
  const [fresh] = await freshness(s.app.services.db);
  t.true(fresh.pendingDeltas >= 7, `deltas wait (${fresh.pendingDeltas})`);
  const counts = await s.app.jobs.queue.counts();
  t.true(counts[FOLD_JOB].waiting + counts[FOLD_JOB].delayed >= 1, 'a fold is queued');

  // Lost deltas, a fault no command can cause (someone edited the table): without the recompute,
  // other/sub, other and the root would never count those three files.
  await s.app.services.db.rows(sql`DELETE FROM rollup_deltas WHERE dir_id = (SELECT id FROM nodes WHERE path = 'other/sub')`);
  t.is(await s.app.jobs.scheduler.requestRecompute(s.app.services.db, 1, 'other'), 2);
  const stale = await rollupOf('other');
  t.is(stale.state, RollupState.ROLLUP_STATE_STALE);
  t.is((await freshness(s.app.services.db))[0].staleDirs, 2);

  const workers = startRollupWorkers({
    db: s.app.services.db,
    commits: s.app.services.commits,
    queue: s.app.jobs.queue,
    scheduler: s.app.jobs.scheduler,
    backendIds: [1],
    batchSize: 3,
    sweepMs: 60_000,
    log: pino({ level: 'warn' }),
  });
  t.teardown(() => workers.stop());
  await rollupsSettled(s.app.jobs.queue, s.app.services.db);

  const p = await rollupOf('p');
  t.is(p.state, RollupState.ROLLUP_STATE_UP_TO_DATE);
  t.deepEqual([p.sizeBytes, p.fileCount, p.dirCount], [15_000, 5, 1]);
  t.true(p.lastCalculatedAt.getTime() >= before.getTime() - 1000, 'last_calculated_at is when it was folded');
  const other = await rollupOf('other');
  t.deepEqual([other.state, other.sizeBytes, other.fileCount, other.dirCount], [RollupState.ROLLUP_STATE_UP_TO_DATE, 30, 3, 1], 'the recompute repaired the drift');
  t.is((await rollupOf('')).fileCount, 8, 'and its ancestors');
  t.deepEqual(await rollupMismatches(s.app.services.db), []);
  t.deepEqual((await freshness(s.app.services.db))[0], { backendId: 1, pendingDeltas: 0, oldestPendingSeconds: 0, staleDirs: 0 });
});

test.serial('rollup.updated events are coalesced: far fewer than writes, the last one exact', async (t) => {
  const sub = s.client.subscribe({ eventTypes: ['filestore.rollup.updated'], pathPrefix: 'ev' });
  t.teardown(() => sub.cancel());
  await sub.until((x) => x.heartbeats.length > 0, 5000, 'the first heartbeat');
  await s.client.fs('createDirectory', { backendId: 1, path: 'ev/x', parents: true });
  await Promise.all(Array.from({ length: 40 }, (_, i) => s.client.write({ path: `ev/x/f${i}` }, Buffer.alloc(100))));
  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
  const isFinal = (e: { path: string; node?: { rollup?: { fileCount: number } } }) => e.path === 'ev/x' && e.node?.rollup?.fileCount === 40;
  await sub.until((x) => x.events.some(isFinal), 10_000, 'the event with the final figures of ev/x');
  const forX = sub.events.filter((e) => e.path === 'ev/x');
  t.true(forX.length < 20, `${forX.length} events for 40 writes into ev/x`);
  const last = forX.at(-1)!;
  t.deepEqual([last.node!.rollup!.sizeBytes, last.node!.rollup!.fileCount, last.principal], [4000, 40, 'filestore:rollup-worker']);
  t.true(sub.events.some((e) => e.path === 'ev'), 'ancestors report their change too');
  t.log(`${forX.length} rollup.updated events for ev/x after 40 writes`);
});

test.serial('a recompute of something that is not a live directory: refused when asked, failed for good (no retries) as a job', async (t) => {
  const file = await s.client.write({ path: 'plain.txt' }, Buffer.from('x'));
  const { scheduler, queue } = s.app.jobs;
  await t.throwsAsync(scheduler.requestRecompute(s.app.services.db, 1, 'plain.txt'), { message: /is a file; only directories have rollups/ });
  await t.throwsAsync(scheduler.requestRecompute(s.app.services.db, 1, 'no/such/dir'), { message: /is not a live node/ });
  // A job whose directory became a file's id or vanished before it ran (say, deleted meanwhile).
  const started = Date.now();
  await scheduler.recompute(1, Number(file.node!.id));
  await scheduler.recompute(1, 987_654_321);
  await queue.drained(10_000);
  t.is((await queue.counts())['rollups.recompute'].failed, 2);
  t.true(Date.now() - started < 2000, 'not retried (the backoff is 2 s)');
});
