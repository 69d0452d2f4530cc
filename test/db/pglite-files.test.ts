// The embedded database's files on disk (connectPglite on a directory): the data directory and the
// database directory 0700, the lock 0600, no database file readable by others — for a new
// database and for one an earlier version created with open modes — and one holder at a time.
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { connectPglite } from '../../src/db/database.js';
import { StartupError } from '../../src/errors/startup-error.js';

const INIT = path.resolve(import.meta.dirname, '../../src/db/pglite-init.ts');

function tempDataDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'filestore-pglite-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const mode = (p: string) => lstatSync(p).mode & 0o777;

/** Every path below `root` whose mode lets group or others in, with that mode. */
function openToOthers(root: string): string[] {
  const found: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isDirectory() ? (st.mode & 0o777) !== 0o700 : st.mode & 0o077) found.push(`${path.relative(root, p) || '.'} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
  };
  walk(root);
  return found;
}

function chmodTree(root: string, dirMode: number, fileMode: number): void {
  const st = lstatSync(root);
  chmodSync(root, st.isDirectory() ? dirMode : fileMode);
  if (st.isDirectory()) for (const name of readdirSync(root)) chmodTree(path.join(root, name), dirMode, fileMode);
}

test.serial('a new embedded database is private: directories 0700, the lock 0600, no file open to others', async (t) => {
  const home = tempDataDir(t);
  chmodSync(home, 0o755);
  const dir = path.join(home, 'pglite');
  const db = await connectPglite(dir);
  try {
    await db.rows(sql`CREATE TABLE grown (x int)`);
    await db.rows(sql`INSERT INTO grown SELECT generate_series(1, 10000)`);
    t.is(mode(home), 0o700);
    t.is(mode(path.join(home, 'pglite.lock')), 0o600);
    t.deepEqual(readdirSync(home).sort(), ['pglite', 'pglite.lock'], 'no initdb leftovers');
    t.is(mode(dir), 0o700);
    t.deepEqual(openToOthers(dir), [], 'initdb\'s files, and those the start and the statements above created');
  } finally {
    await db.close();
  }
  t.deepEqual(readdirSync(home), ['pglite'], 'close() gave the lock back');
  const again = await connectPglite(dir);
  await again.close();
  t.deepEqual(openToOthers(dir), [], 'every file private after an open');
});

test.serial('a database an earlier version left with open modes is made private at open', async (t) => {
  const home = tempDataDir(t);
  const dir = path.join(home, 'pglite');
  mkdirSync(dir);
  await promisify(execFile)(process.execPath, ['--import', 'tsx', INIT, dir]);
  t.true(openToOthers(dir).some((p) => p.endsWith(' 666')), 'PGlite leaves initdb\'s files 0666');
  chmodTree(dir, 0o755, 0o666);
  chmodSync(home, 0o755);
  const db = await connectPglite(dir);
  try {
    t.is(mode(home), 0o700);
    t.deepEqual(openToOthers(dir), []);
  } finally {
    await db.close();
  }
});

test.serial('one holder at a time, in one process too; a refusal leaves the lock to its holder', async (t) => {
  const home = tempDataDir(t);
  const dir = path.join(home, 'pglite');
  const db = await connectPglite(dir, { role: 'first' });
  try {
    const err = await t.throwsAsync(connectPglite(dir, { role: 'second' }), { instanceOf: StartupError });
    t.regex(err!.message, new RegExp(`in use by this process, pid ${process.pid} on host .* \\(first\\), since `));
    t.deepEqual(readdirSync(home).sort(), ['pglite', 'pglite.lock']);
  } finally {
    await db.close();
  }
  const next = await connectPglite(dir, { role: 'second' });
  await next.close();
  t.pass();
});

test.serial('a database directory with files but no database is refused, and the lock is given back', async (t) => {
  const home = tempDataDir(t);
  const dir = path.join(home, 'pglite');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'notes.txt'), 'not a database\n');
  const err = await t.throwsAsync(connectPglite(dir), { instanceOf: StartupError });
  t.is(err!.message, `${dir} holds files but no database (no PG_VERSION): move it away, and the next start creates a new one`);
  t.deepEqual(readdirSync(home), ['pglite']);
  t.deepEqual(readdirSync(dir), ['notes.txt']);
});
