// The cursor mechanism on PostgreSQL itself, with transactions held open by hand: a transaction that
// commits after a later one must never be skipped by a reader (docs/decisions/002-event-cursors.md).
import test from 'ava';
import { sql } from 'drizzle-orm';
import { connectPostgres, type Database } from '../../src/db/database.js';
import { appendEvents, readBelowWatermark } from '../../src/db/events-repo.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let tdb: TestDatabase;
let db: Database;

test.before(async () => {
  tdb = await createTestDatabase('pg');
  db = await connectPostgres(tdb.url!, 8);
});

test.after.always(async () => {
  await db?.close();
  await tdb?.drop();
});

const origin = { journalId: null, command: 'Test', principal: 'test' };
const ev = (path: string) => ({ type: 'filestore.node.created', backendId: 1, path, node: null });

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function drain(after: bigint): Promise<{ paths: string[]; cursors: bigint[] }> {
  const { events } = await readBelowWatermark(db, after, 1000);
  return { paths: events.map((e) => e.path), cursors: events.map((e) => e.cursor) };
}

/**
 * Reads until `count` events are readable (or 10 s passed). The watermark is cluster-wide: a
 * transaction of another test's database, running now, may hold our committed events back a moment.
 */
async function settled(after: bigint, count: number): Promise<{ paths: string[]; cursors: bigint[] }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const read = await drain(after);
    if (read.paths.length >= count || Date.now() > deadline) return read;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test.serial('an event committed after a later-started transaction is delivered, not skipped', async (t) => {
  const start = (await readBelowWatermark(db, 0n, 0)).watermark - 1n;
  const t1Written = deferred();
  const t1Release = deferred();
  const t1 = db.transaction(async (tx) => {
    await appendEvents(tx, [ev('t1')], origin);
    t1Written.resolve();
    await t1Release.promise;
  });
  await t1Written.promise;
  // T2 starts after T1 and commits first.
  await db.transaction((tx) => appendEvents(tx, [ev('t2')], origin));

  // A naive reader (ORDER BY id, everything visible) would see T2 alone and move its cursor past T1's.
  const visible = await db.rows<{ path: string }>(sql`SELECT path FROM events ORDER BY cursor`);
  t.deepEqual(visible.map((r) => r.path), ['t2']);
  // The watermark holds T2 back while T1 is open.
  t.deepEqual((await drain(start)).paths, []);

  t1Release.resolve();
  await t1;
  const after = await settled(start, 2);
  t.deepEqual(after.paths, ['t1', 't2'], 'both, in cursor order');
  t.true(after.cursors[0] < after.cursors[1]);
});

test.serial('cursors are strictly increasing within a transaction, across several appends', async (t) => {
  const start = (await readBelowWatermark(db, 0n, 0)).watermark - 1n;
  const written = await db.transaction(async (tx) => {
    const a = await appendEvents(tx, [ev('a1'), ev('a2')], origin);
    const b = await appendEvents(tx, [ev('b1')], origin);
    return [a!, b!];
  });
  const { paths, cursors } = await settled(start, 3);
  t.deepEqual(paths, ['a1', 'a2', 'b1']);
  t.is(cursors[1], written[0]);
  t.is(cursors[2], written[1]);
  t.is(cursors[1] + 1n, cursors[2]);
});

test.serial('a rolled-back transaction leaves no event and no gap a reader waits on', async (t) => {
  const start = (await readBelowWatermark(db, 0n, 0)).watermark - 1n;
  await t.throwsAsync(
    db.transaction(async (tx) => {
      await appendEvents(tx, [ev('lost')], origin);
      throw new Error('abort');
    }),
  );
  await db.transaction((tx) => appendEvents(tx, [ev('kept')], origin));
  t.deepEqual((await settled(start, 1)).paths, ['kept']);
});

test.serial('random interleavings: a reader that resumes from every cursor it saw gets each committed event once, in order', async (t) => {
  const start = (await readBelowWatermark(db, 0n, 0)).watermark - 1n;
  const committed: string[] = [];
  const writers = Array.from({ length: 24 }, (_, i) =>
    db.transaction(async (tx) => {
      await new Promise((r) => setTimeout(r, Math.random() * 20));
      await appendEvents(tx, [ev(`w${i}-0`), ev(`w${i}-1`)], origin);
      await new Promise((r) => setTimeout(r, Math.random() * 60)); // commit out of id order
      if (i % 7 === 3) throw new Error('rolled back');
    }).then(
      () => committed.push(`w${i}-0`, `w${i}-1`),
      () => {},
    ),
  );
  const seen: string[] = [];
  let cursor = start;
  const reading = (async () => {
    for (let round = 0; round < 400; round++) {
      const { events } = await readBelowWatermark(db, cursor, 5);
      for (const e of events) {
        t.true(e.cursor > cursor);
        cursor = e.cursor;
        seen.push(e.path);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  await Promise.all(writers);
  await reading;
  seen.push(...(await settled(cursor, committed.length - seen.length)).paths);
  t.deepEqual([...seen].sort(), [...committed].sort());
  t.is(new Set(seen).size, seen.length, 'no duplicates');
});
