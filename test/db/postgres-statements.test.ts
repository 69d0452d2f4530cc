// PostgreSQL specifics of the database layer: named prepared statements survive a migration made by
// another process, and crash recovery's claim on an entry gives up on a transaction that holds it.
import test from 'ava';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { upsertBackend } from '../../src/db/backends-repo.js';
import { connectPostgres, type Database } from '../../src/db/database.js';
import { isLockTimeout } from '../../src/db/db-errors.js';
import * as journal from '../../src/db/journal-repo.js';
import { isFilestoreError } from '../../src/errors/domain-error.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let tdb: TestDatabase;
let db: Database;

test.before(async () => {
  tdb = await createTestDatabase('pg');
  db = await connectPostgres(tdb.url!, 1); // one connection: the one that prepared the statements
  await upsertBackend(db, { id: 1, name: 'one', kind: 'local', location: '/nowhere', config: {} });
});

test.after.always(async () => {
  await db?.close();
  await tdb?.drop();
});

async function otherSession(statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: tdb.url! });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

test.serial('a column added by another process: statements prepared before it are prepared again', async (t) => {
  const before = await db.rows<Record<string, unknown>>(sql`SELECT * FROM backends WHERE backend_id = ${1}`);
  t.false('added_later' in before[0]!);
  await otherSession(`ALTER TABLE backends ADD COLUMN added_later text DEFAULT 'x'`);
  const after = await db.rows<Record<string, unknown>>(sql`SELECT * FROM backends WHERE backend_id = ${1}`);
  t.is(after[0]!.added_later, 'x');
});

test.serial('inside a transaction the same change fails the call with UNAVAILABLE (retry), and the next one works', async (t) => {
  const read = () => db.transaction((tx) => tx.rows<Record<string, unknown>>(sql`SELECT * FROM instances`));
  await read();
  await otherSession(`ALTER TABLE instances ADD COLUMN added_later text`);
  const err = await t.throwsAsync(read());
  t.true(isFilestoreError(err) && err.code === 'UNAVAILABLE' && err.reason === 'SCHEMA_CHANGED', String(err));
  await t.notThrowsAsync(read());
});

test.serial("recovery's claim gives up after about a second while another transaction holds the entry", async (t) => {
  const [id] = await journal.allocateIds(db, 1);
  const entry: journal.IdentifiedEntry = {
    id: id!, backendId: 1, command: 'CreateDirectory', principal: 'p', idempotencyKey: null, paramsHash: 'h', params: {}, plan: {},
    path: 'held', targetBackendId: null, targetPath: null, nodeId: null, instanceId: 'someone',
  };
  const holder = await connectPostgres(tdb.url!, 1, false);
  t.teardown(() => holder.close());
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let inserted!: () => void;
  const holding = new Promise<void>((r) => (inserted = r));
  const held = holder.transaction(async (tx) => {
    await journal.insertPending(tx, entry);
    inserted();
    await released;
    throw new Error('rolled back on purpose');
  });
  await holding;
  const started = performance.now();
  const err = await t.throwsAsync(db.transaction((tx) => journal.claimForRecovery(tx, entry)));
  const waited = performance.now() - started;
  t.true(isLockTimeout(err), String(err));
  t.true(waited >= 900 && waited < 5_000, `waited ${Math.round(waited)} ms`);
  release();
  await t.throwsAsync(held, { message: 'rolled back on purpose' });
  const claimed = await db.transaction((tx) => journal.claimForRecovery(tx, entry));
  t.is(claimed?.status, 'PENDING', 'once the holder rolled back, the claim takes the entry');
});
