// The private PostgreSQL cluster of test/support/private-postgres.ts: a committed row survives a
// kill -9 of every PostgreSQL process, the restart recovers on the same port, and stop() leaves no
// process and no directory behind.
import test from 'ava';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { processAlive, startPrivatePostgres } from '../support/private-postgres.js';

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

/** Pids of the server processes: the postmaster and its children (as the server itself lists them). */
async function serverPids(url: string): Promise<number[]> {
  const rows = await query<{ pid: number }>(url, 'SELECT pid FROM pg_stat_activity UNION SELECT pg_backend_pid()');
  return rows.map((r) => r.pid);
}

test('a committed row survives kill -9 and the restart; stop() leaves nothing behind', async (t) => {
  const started = performance.now();
  const db = await startPrivatePostgres();
  t.teardown(() => db.stop());
  const startMs = performance.now() - started;
  const url = await db.createDatabase('selftest');
  await query(url, 'CREATE TABLE kept (id int PRIMARY KEY, note text)');
  await query(url, "INSERT INTO kept VALUES (1, 'committed before the crash')");

  const postmaster = db.pid!;
  const pids = [postmaster, ...(await serverPids(url))];
  t.true(pids.length > 3, `the postmaster and its children: ${pids.join(', ')}`);

  const killedAt = performance.now();
  await db.kill9();
  t.is(db.pid, null);
  t.deepEqual(pids.filter(processAlive), [], 'every PostgreSQL process is gone after kill9');
  await t.throwsAsync(query(url, 'SELECT 1'), undefined, 'nothing answers while the cluster is down');
  t.true(db.output.every((l) => !/shutting down|database system is shut down/.test(l)), 'no shutdown ran: it was a crash');

  await db.start();
  const restartMs = performance.now() - killedAt;
  t.not(db.pid, postmaster);
  t.deepEqual(await query(url, 'SELECT id, note FROM kept'), [{ id: 1, note: 'committed before the crash' }]);
  t.true(db.output.some((l) => /not properly shut down|automatic recovery/.test(l)), `the restart ran crash recovery:\n${db.output.join('\n')}`);

  const restarted = [db.pid!, ...(await serverPids(url))];
  const dataDir = db.dataDir;
  await db.stop();
  t.deepEqual(restarted.filter(processAlive), [], 'no PostgreSQL process is left after stop()');
  t.false(existsSync(dataDir), 'the data directory is removed');
  t.log(`start ${Math.round(startMs)} ms (initdb included), kill -9 to answering again ${Math.round(restartMs)} ms`);
});
