// One database interface over two drivers: node-postgres (service mode) and PGlite (embedded).
// Only src/db touches drizzle; the rest of the code calls the repositories beside this file.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { StartupError } from '../errors/startup-error.js';
import { fromRoot } from '../project-root.js';
import { lockDataDir, type DataDirLock, type LockPurpose } from './data-dir-lock.js';
import { databaseErrorToDomain, isStalePreparedStatement } from './db-errors.js';
import { PGLITE_OPTIONS } from './pglite-options.js';
import { makeDirPrivate, makeTreePrivate } from './private-files.js';

export type Row = Record<string, unknown>;

export interface Executor {
  rows<T = Row>(query: SQL): Promise<T[]>;
}

export interface Database extends Executor {
  readonly kind: 'pg' | 'pglite';
  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = fromRoot('migrations');
const MIGRATION_LOCK = 7_342_001; // arbitrary advisory lock id: one migrator at a time

interface DrizzleLike {
  execute(query: SQL): Promise<unknown>;
  transaction<T>(fn: (tx: DrizzleLike) => Promise<T>): Promise<T>;
}

function executor(db: DrizzleLike): Executor {
  return {
    async rows<T>(query: SQL): Promise<T[]> {
      const result = (await db.execute(query)) as { rows: T[] };
      return result.rows;
    },
  };
}

function translateConnectionError(err: unknown): never {
  const domain = databaseErrorToDomain(err);
  throw domain?.code === 'UNAVAILABLE' ? domain : err;
}

function wrap(kind: Database['kind'], db: DrizzleLike, close: () => Promise<void>): Database {
  const base = executor(db);
  return {
    kind,
    rows: <T,>(q: SQL) => base.rows<T>(q).catch(translateConnectionError),
    transaction: (fn) => db.transaction((tx) => fn(executor(tx))).catch(translateConnectionError),
    close,
  };
}

// Statements on PostgreSQL run as named prepared statements: each connection parses and plans a
// statement once, not on every call (planning was the larger part of the database's CPU per command;
// bench/README.md). Names are a hash of the text; texts made at run time (lists of ids) are few, but
// the number named per process is capped all the same.
const dialect = new PgDialect();
const statementNames = new Map<string, string>();
const MAX_NAMED_STATEMENTS = 2_000;
const MAX_NAMED_TEXT = 16_384;

/** Bumped when a migration changed what a prepared statement returns: every name is prepared anew. */
let generation = 0;

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS && text.length <= MAX_NAMED_TEXT) {
    name = `fs${generation}_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** `name`: the statement that failed; one of an older generation was prepared before the last bump. */
function forgetPreparedStatements(name: string | undefined): void {
  if (name && !name.startsWith(`fs${generation}_`)) return;
  generation++;
  statementNames.clear();
}

/** Timestamps stay text, as drizzle returns them (records.ts parses them). */
const keepText = (v: string) => v;
const TEXT_TYPES = new Set([pg.types.builtins.TIMESTAMPTZ, pg.types.builtins.TIMESTAMP, pg.types.builtins.DATE, pg.types.builtins.INTERVAL, 1115, 1182, 1185, 1187, 1231]);
const RESULT_TYPES = {
  getTypeParser: ((typeId: number, format?: 'text' | 'binary') =>
    TEXT_TYPES.has(typeId) ? keepText : pg.types.getTypeParser(typeId, format)) as typeof pg.types.getTypeParser,
};

const plannedEachCall = new WeakSet<SQL>();

/**
 * Marks a statement to be planned on every call, with its values, instead of prepared once: for a
 * statement over a batch, whose best plan depends on the batch's and the tables' sizes (a plan cached
 * while the tables were small scans them whole later).
 */
export function planEachCall(q: SQL): SQL {
  plannedEachCall.add(q);
  return q;
}

function pgQuery(q: SQL): pg.QueryConfig {
  const { sql: text, params } = dialect.sqlToQuery(q);
  const name = plannedEachCall.has(q) ? undefined : statementName(text);
  return { name, text, values: params, types: RESULT_TYPES } as pg.QueryConfig;
}

function pgExecutor(client: pg.Pool | pg.PoolClient): Executor {
  return {
    async rows<T>(q: SQL): Promise<T[]> {
      const query = pgQuery(q);
      try {
        return (await client.query(query)).rows as T[];
      } catch (err) {
        if (!isStalePreparedStatement(err)) throw err;
        // Another process migrated the schema (a rolling upgrade): prepare again. Outside a
        // transaction the statement is simply retried; inside one, the transaction is lost.
        forgetPreparedStatements(query.name);
        if (client instanceof pg.Pool) return (await client.query(pgQuery(q))).rows as T[];
        throw err;
      }
    },
  };
}

function pgDatabase(pool: pg.Pool): Database {
  const base = pgExecutor(pool);
  return {
    kind: 'pg',
    rows: <T,>(q: SQL) => base.rows<T>(q).catch(translateConnectionError),
    transaction: <T,>(fn: (tx: Executor) => Promise<T>) => pgTransaction(pool, fn).catch(translateConnectionError),
    close: () => pool.end(),
  };
}

async function pgTransaction<T>(pool: pg.Pool, fn: (tx: Executor) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(pgExecutor(client));
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken); // a connection that cannot roll back is dropped, not reused
  }
}

/** `migrateFirst` false: a second pool of a process whose first pool already migrated. */
export async function connectPostgres(url: string, poolSize = 16, migrateFirst = true): Promise<Database> {
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  // A bounded connect: with the database gone, calls fail fast (UNAVAILABLE) instead of queueing.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5_000, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
  // A connection's errors surface on its next query: without a listener, a socket that breaks while a
  // connection is checked out (the database killed) would crash the process.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
    // The server notices a client lost without a word (a partition) within ~25 s, idle or not, and
    // ends its transaction, so crash recovery can claim the entries it held (journal-repo claimForRecovery).
    client
      .query('SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; SET tcp_user_timeout = 25000')
      .catch(() => {});
  });
  const client = await pool.connect().catch(translateConnectionError);
  if (!migrateFirst) {
    client.release();
    return pgDatabase(pool);
  }
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_DIR });
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
  return pgDatabase(pool);
}

/**
 * dataDir undefined: in memory (tests). A directory serves one process at a time: this one takes
 * its lock (`<parent>/<name>.lock`, data-dir-lock.ts) before anything touches the directory, and
 * close() or the process's exit gives it back.
 */
/** `purpose`: what the lock file says this process is, for the message another process gets. */
export async function connectPglite(dataDir?: string, purpose: LockPurpose = { role: 'filestore' }): Promise<Database> {
  if (!dataDir) {
    const { client, orm } = await openPglite();
    return wrap('pglite', orm, () => client.close());
  }
  const lock = await lockPgliteDir(dataDir, purpose);
  try {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await initPgliteDir(dataDir);
    makeTreePrivate(dataDir);
    const { client, orm } = await openPglite(dataDir);
    const close = async () => {
      try {
        await client.close();
      } finally {
        lock.release();
      }
    };
    try {
      makeTreePrivate(dataDir); // what the start rewrote (pg_internal.init follows the umask)
    } catch (err) {
      await close().catch(() => {});
      throw err;
    }
    return wrap('pglite', orm, close);
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** Opens PGlite and applies the migrations (closing it again if they fail). */
async function openPglite(dataDir?: string): Promise<{ client: { close(): Promise<void> }; orm: DrizzleLike }> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const client = dataDir ? new PGlite(dataDir, PGLITE_OPTIONS) : new PGlite(PGLITE_OPTIONS);
  const orm = drizzle(client);
  try {
    await migrate(orm, { migrationsFolder: MIGRATIONS_DIR });
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
  return { client, orm: orm as unknown as DrizzleLike };
}

export async function ping(db: Executor): Promise<void> {
  await db.rows(sql`SELECT 1`);
}

async function lockPgliteDir(dataDir: string, purpose: LockPurpose): Promise<DataDirLock> {
  const home = path.dirname(dataDir); // FILESTORE_DATA_DIR
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const lock = await lockDataDir(home, `${path.basename(dataDir)}.lock`, purpose);
  try {
    makeDirPrivate(home);
    return lock;
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** initdb into a directory of its own, renamed into place once complete: a crash halfway leaves no half database. */
async function initPgliteDir(dataDir: string): Promise<void> {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new StartupError([`${dataDir} holds files but no database (no PG_VERSION): move it away, and the next start creates a new one`]);
  }
  const prefix = `${path.basename(dataDir)}.initdb-`;
  for (const name of readdirSync(path.dirname(dataDir))) {
    // Left by a first start killed halfway; its initdb child stops when its parent is gone.
    if (name.startsWith(prefix)) rmSync(path.join(path.dirname(dataDir), name), { recursive: true, force: true, maxRetries: 5 });
  }
  const temp = `${dataDir}.initdb-${randomBytes(4).toString('hex')}`;
  mkdirSync(temp, { mode: 0o700 });
  try {
    // The same file as this module: .ts under tsx, .js when compiled; execArgv carries the loader.
    const script = fileURLToPath(new URL(`./pglite-init${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));
    await promisify(execFile)(process.execPath, [...process.execArgv, script, temp]);
    if (existsSync(dataDir)) rmdirSync(dataDir); // empty, as checked above
    renameSync(temp, dataDir);
    fsyncDir(path.dirname(dataDir));
  } catch (err) {
    rmSync(temp, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
