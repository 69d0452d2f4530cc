// Each test file gets its own database: a fresh PostgreSQL database (FILESTORE_TEST_DB=pg)
// or a fresh PGlite directory (FILESTORE_TEST_DB=pglite, the default).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type TestDbKind = 'pg' | 'pglite';

export const testDbKind: TestDbKind = process.env.FILESTORE_TEST_DB === 'pg' ? 'pg' : 'pglite';
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  /** DATABASE_URL for the server, or null for PGlite. */
  url: string | null;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `FILESTORE_TEST_DB=pg needs PostgreSQL at ${ADMIN_URL} (set TEST_DATABASE_URL): ${(err as Error).message}`,
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** `kind` forces a database kind, for tests about PostgreSQL itself (concurrent transactions). */
export async function createTestDatabase(kind: TestDbKind = testDbKind): Promise<TestDatabase> {
  if (kind === 'pglite') return { url: null, drop: async () => {} };
  const name = `filestore_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}
