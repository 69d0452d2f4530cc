// One database interface over two drivers: node-postgres (service mode) and PGlite (embedded).
// Only src/db touches drizzle; the rest of the code calls the repositories beside this file.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { fromRoot } from '../project-root.js';
import { databaseErrorToDomain } from './db-errors.js';
import { PGLITE_OPTIONS } from './pglite-options.js';

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

/** `migrateFirst` false: a second pool of a process whose first pool already migrated. */
export async function connectPostgres(url: string, poolSize = 16, migrateFirst = true): Promise<Database> {
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  // A bounded connect: with the database gone, calls fail fast (UNAVAILABLE) instead of queueing.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5_000 });
  // A connection's errors surface on its next query: without a listener, a socket that breaks while a
  // connection is checked out (the database killed) would crash the process.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const client = await pool.connect().catch(translateConnectionError);
  if (!migrateFirst) {
    client.release();
    return wrap('pg', drizzle(pool) as unknown as DrizzleLike, () => pool.end());
  }
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_DIR });
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
  const db = drizzle(pool) as unknown as DrizzleLike;
  return wrap('pg', db, () => pool.end());
}

/** dataDir undefined: in memory (tests). */
export async function connectPglite(dataDir?: string): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  if (dataDir && !existsSync(path.join(dataDir, 'PG_VERSION'))) await initPgliteDir(dataDir);
  const client = dataDir ? new PGlite(dataDir, PGLITE_OPTIONS) : new PGlite(PGLITE_OPTIONS);
  const orm = drizzle(client);
  await migrate(orm, { migrationsFolder: MIGRATIONS_DIR });
  return wrap('pglite', orm as unknown as DrizzleLike, () => client.close());
}

export async function ping(db: Executor): Promise<void> {
  await db.rows(sql`SELECT 1`);
}

async function initPgliteDir(dataDir: string): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  // The same file as this module: .ts under tsx, .js when compiled; execArgv carries the loader.
  const script = fileURLToPath(new URL(`./pglite-init${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));
  await promisify(execFile)(process.execPath, [...process.execArgv, script, dataDir]);
}
