// Rollups under interleavings held open by hand on PostgreSQL (the races a review found):
// a directory created while a move waited for its parent's lock, a GetNode racing a move, and a
// recompute asked for a subtree that moves before the job runs, or whose job is lost.
import test from 'ava';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { upsertBackend } from '../../src/db/backends-repo.js';
import { connectPostgres, type Database } from '../../src/db/database.js';
import * as nodes from '../../src/db/nodes-repo.js';
import type { NodeRecord } from '../../src/db/records.js';
import { readRollup } from '../../src/db/rollups-repo.js';
import { InlineQueue } from '../../src/jobs/inline-queue.js';
import { foldBackend } from '../../src/rollups/fold.js';
import { markSubtreeStale } from '../../src/rollups/recompute.js';
import { RollupScheduler } from '../../src/rollups/scheduler.js';
import { startRollupWorkers } from '../../src/rollups/workers.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { rollupMismatches, rollupsSettled } from '../support/rollups.js';

const commits = { committed() {} };
const JOURNAL = 1;
let tdb: TestDatabase;
let db: Database;
let root: NodeRecord;

test.before(async () => {
  tdb = await createTestDatabase('pg');
  db = await connectPostgres(tdb.url!, 8);
  await upsertBackend(db, { id: 1, name: 'one', kind: 'local', location: '/nowhere', config: {} });
  root = await nodes.ensureRoot(db, 1);
});

test.after.always(async () => {
  await db?.close();
  await tdb?.drop();
});

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const dir = (parent: NodeRecord, path: string) =>
  nodes.insertNode(db, { backendId: 1, parentId: parent.id, path, name: path.split('/').pop()!, kind: 'DIRECTORY' }, null).then((n) => n!);

test.serial('a directory made while a move waited for its parent is moved too, and rollups stay exact', async (t) => {
  const d = await dir(root, 'D');
  const e = await dir(d, 'D/E');
  const t1Inserted = gate(), t1Commit = gate(), moverLocked = gate(), t2Inserted = gate(), t2Commit = gate();
  const t1 = db.transaction(async (tx) => {
    await nodes.findLive(tx, 1, 'D/E', 'share');
    await nodes.insertNode(tx, { backendId: 1, parentId: e.id, path: 'D/E/N', name: 'N', kind: 'DIRECTORY' }, null);
    t1Inserted.open();
    await t1Commit.opened;
  });
  await t1Inserted.opened;
  const mover = db.transaction(async (tx) => {
    const locked = (await nodes.findLive(tx, 1, 'D', 'update'))!;
    await nodes.lockDescendants(tx, 1, 'D', 'update'); // waits for t1 on D/E
    moverLocked.open();
    await Promise.race([t2Inserted.opened, sleep(500)]);
    await nodes.moveSubtree(tx, locked, { path: 'X', name: 'X', parentId: root.id }, JOURNAL);
  });
  await sleep(100);
  t1Commit.open();
  await t1;
  await moverLocked.opened;
  // t2 wants to create a file under D/E/N: it must wait for the move, not slip in before it.
  const t2 = db.transaction(async (tx) => {
    const n = await nodes.findLive(tx, 1, 'D/E/N', 'share');
    if (n) await nodes.insertNode(tx, { backendId: 1, parentId: n.id, path: 'D/E/N/f', name: 'f', kind: 'FILE', sizeBytes: 100 }, null);
    t2Inserted.open();
    await t2Commit.opened;
  });
  await sleep(300);
  t2Commit.open();
  await Promise.all([t2, mover]);
  const strays = await db.rows(sql`SELECT path FROM nodes WHERE path LIKE 'D/%' AND state <> 'DELETED'`);
  t.deepEqual(strays, [], 'nothing live is left under the old path');
  await foldBackend(db, commits, 1, 1000);
  t.deepEqual(await rollupMismatches(db), []);
});

test.serial('GetNode racing a move of the directory still sees its pending deltas', async (t) => {
  const p = await dir(root, 'P');
  const q = await dir(p, 'P/Q');
  await foldBackend(db, commits, 1, 1000);
  await nodes.insertNode(db, { backendId: 1, parentId: q.id, path: 'P/Q/g', name: 'g', kind: 'FILE', sizeBytes: 7 }, null);
  const seen = (await nodes.findLive(db, 1, 'P'))!; // GetNode's first statement
  await db.transaction(async (tx) => {
    const locked = (await nodes.findLive(tx, 1, 'P', 'update'))!;
    await nodes.lockDescendants(tx, 1, 'P', 'update');
    await nodes.moveSubtree(tx, locked, { path: 'R', name: 'R', parentId: root.id }, JOURNAL);
  });
  const rollup = await readRollup(db, seen); // and its second, after the move committed
  t.is(rollup?.state, 'PENDING', 'a delta below it is not folded yet');
  await foldBackend(db, commits, 1, 1000);
  t.like(await readRollup(db, (await nodes.findLive(db, 1, 'R'))!), { state: 'UP_TO_DATE', sizeBytes: 7, fileCount: 1, dirCount: 1 });
});

test.serial('a recompute asked for follows its subtree when it moves, and a lost job is queued again by the sweep', async (t) => {
  const s = await dir(root, 'S');
  await dir(s, 'S/T');
  await foldBackend(db, commits, 1, 1000);
  const queue = new InlineQueue({ retry: { attempts: 2, backoffMs: 10 } });
  const scheduler = new RollupScheduler(queue, 5, pino({ level: 'silent' }));
  t.teardown(() => queue.close());

  // Asked for, then moved before the job runs.
  t.is(await scheduler.requestRecompute(db, 1, 'S'), 2);
  await db.transaction(async (tx) => {
    const locked = (await nodes.findLive(tx, 1, 'S', 'update'))!;
    await nodes.lockDescendants(tx, 1, 'S', 'update');
    await nodes.moveSubtree(tx, locked, { path: 'S2', name: 'S2', parentId: root.id }, JOURNAL);
  });
  // Asked for, and the job lost (marked, never queued): only the STALE mark remains.
  const lost = await dir(root, 'L');
  await markSubtreeStale(db, 1, 'L');

  const workers = startRollupWorkers({ db, commits, queue, scheduler, backendIds: [1], batchSize: 100, sweepMs: 60_000, log: pino({ level: 'silent' }) });
  t.teardown(() => workers.stop());
  await rollupsSettled(queue, db);
  for (const path of ['S2', 'S2/T', 'L']) t.is((await readRollup(db, (await nodes.findLive(db, 1, path))!))?.state, 'UP_TO_DATE', path);
  t.is((await queue.counts())['rollups.recompute'].failed, 0);
  t.truthy(lost);
  t.deepEqual(await rollupMismatches(db), []);
});
