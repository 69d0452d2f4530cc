// docs/architecture.md, Invariants 5, under load: 32 concurrent writers whose transactions last a random
// time (so they commit out of id order), and a subscriber that drops its stream at random moments and
// resumes from its last cursor. It must end with exactly the committed events, each once, in cursor
// order, and agree with the journal and the outbox table.
import test from 'ava';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { sql } from 'drizzle-orm';
import type { Event } from '../../gen/filestore/v1/events_service.js';
import { JournalStatus } from '../../gen/filestore/v1/journal_service.js';
import { connectPglite, connectPostgres } from '../../src/db/database.js';
import type { TestClient } from '../support/client.js';
import { makeTestEnv, spawnServer, type SpawnedServer, type TestEnv } from '../support/server.js';

const WRITERS = 32;
const WRITE_MS = 8000;
const EXPECTED_ERRORS = new Set([status.NOT_FOUND, status.ALREADY_EXISTS, status.FAILED_PRECONDITION, status.ABORTED]);

let env: TestEnv;
let s: SpawnedServer;
test.before(async () => {
  // Each command's transaction waits 0–40 ms after writing its events, before committing.
  env = await makeTestEnv({ FILESTORE_TEST_TX_DELAY_MS: '40', FILESTORE_DB_POOL_SIZE: '48', FILESTORE_EVENTS_HEARTBEAT_MS: '200' });
  s = await spawnServer(env.env);
});
test.after.always(async () => {
  await s?.kill();
  await env?.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function writer(c: TestClient, i: number, until: number, counts: { ok: number; refused: number }): Promise<void> {
  const home = `g${i % 4}/w${i}`;
  let n = 0;
  while (Date.now() < until) {
    n++;
    const r = Math.random();
    try {
      if (r < 0.35) await c.fs('createDirectory', { backendId: 1, path: `${home}/d${n}`, parents: true });
      else if (r < 0.65) await c.write({ path: `${home}/f${n % 5}`, overwrite: true, parents: true }, Buffer.alloc(4096, n));
      else if (r < 0.75) await c.fs('updateNodeMetadata', { backendId: 1, path: `${home}/f${(n + 1) % 5}`, metadata: { n: String(n) }, merge: true });
      else if (r < 0.85) await c.fs('moveNode', { backendId: 1, path: `${home}/d${n - 1}`, targetPath: `${home}/m${n}` });
      else if (r < 0.93) await c.fs('copyNode', { backendId: 1, path: `${home}/f${n % 5}`, targetPath: `${home}/c${n}` });
      else await c.fs('deleteNode', { backendId: 1, path: `${home}/m${n - 1}`, recursive: true });
      counts.ok++;
    } catch (err) {
      if (!EXPECTED_ERRORS.has((err as ServiceError).code)) throw err;
      counts.refused++;
    }
  }
}

test('32 racing writers, a subscriber that keeps reconnecting: every committed event once, in order', async (t) => {
  const received: Event[] = [];
  let cursor = '';
  let reconnects = 0;

  // Start from now, and know where "now" is before the first write.
  const first = s.client.subscribe({ clientName: 'gap-free' });
  await first.until((x) => x.heartbeats.length > 0, 10_000, 'the first heartbeat');
  cursor = first.lastCursor();
  first.cancel();
  const startCursor = cursor;

  const until = Date.now() + WRITE_MS;
  const counts = { ok: 0, refused: 0 };
  let writing = true;
  const writers = Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(s.client, i, until, counts))).finally(() => (writing = false));

  // Reconnect at random moments while the writers run.
  while (writing) {
    const sub = s.client.subscribe({ afterCursor: cursor, clientName: 'gap-free' });
    await sleep(20 + Math.random() * 300);
    sub.cancel();
    await sub.done;
    received.push(...sub.events);
    cursor = sub.lastCursor() || cursor;
    reconnects++;
  }
  await writers;

  // The journal: every command that committed.
  const succeeded = new Set<number>();
  for (let token = ''; ; ) {
    const page = await s.client.js('listJournalEntries', { status: JournalStatus.JOURNAL_STATUS_SUCCEEDED, pageSize: 1000, pageToken: token });
    for (const e of page.entries) succeeded.add(Number(e.id));
    token = page.nextPageToken;
    if (!token) break;
  }
  t.true(succeeded.size >= counts.ok, `${succeeded.size} journal entries for ${counts.ok} successful calls`);

  // The final catch-up: until every committed command's completion has arrived.
  const last = s.client.subscribe({ afterCursor: cursor, clientName: 'gap-free' });
  const completedIds = () => new Set([...received, ...last.events].filter((e) => e.type === 'filestore.command.completed').map((e) => Number(e.journalId)));
  await last.until(() => completedIds().size >= counts.ok && last.heartbeats.length > 1, 30_000, 'every completion');
  last.cancel();
  received.push(...last.events);

  const cursors = received.map((e) => BigInt(e.cursor));
  for (let i = 1; i < cursors.length; i++) {
    if (cursors[i] <= cursors[i - 1]) t.fail(`event ${i} has cursor ${cursors[i]} after ${cursors[i - 1]}: out of order or duplicated`);
  }
  const completions = received.filter((e) => e.type === 'filestore.command.completed').map((e) => Number(e.journalId));
  t.is(new Set(completions).size, completions.length, 'each command completed once');
  t.deepEqual([...completions].sort((a, b) => a - b), [...succeeded].sort((a, b) => a - b), 'exactly the SUCCEEDED journal entries');
  const workerEvents = received.filter((e) => e.type === 'filestore.rollup.updated');
  t.true(workerEvents.every((e) => e.principal === 'filestore:rollup-worker' && !Number(e.journalId)), 'rollup events come from the rollup worker');
  for (const e of received) {
    if (e.type !== 'filestore.rollup.updated') t.true(succeeded.has(Number(e.journalId)), `event ${e.cursor} belongs to a committed command`);
  }

  // The outbox table, read after the server stopped: the same events, nothing more, nothing less.
  await s.kill('SIGTERM');
  const db = env.db.url ? await connectPostgres(env.db.url, 1) : await connectPglite(path.join(env.dataDir, 'pglite'));
  try {
    const rows = await db.rows<{ c: string }>(sql`SELECT cursor::text AS c FROM events WHERE cursor > ${startCursor}::int8 ORDER BY events.cursor`);
    t.deepEqual(received.map((e) => e.cursor), rows.map((r) => r.c));
  } finally {
    await db.close();
  }
  t.log(`${counts.ok} commands (${counts.refused} refused), ${received.length} events, ${reconnects} reconnects`);
});
