// Fresh PostgreSQL databases for one run (the server's, and a scratch one for the INSERT
// baseline), created through the admin URL and dropped by the cleanup — as test/support/database.ts does.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { defer } from './cleanup.js';

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`the bench needs PostgreSQL at ${adminUrl} (set TEST_DATABASE_URL, or FILESTORE_BENCH_DB=pglite): ${(err as Error).message}`);
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface FreshDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createDatabase(adminUrl: string, purpose: string): Promise<FreshDatabase> {
  const name = `filestore_bench_${purpose}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const drop = defer(`drop database ${name}`, () =>
    admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  );
  return { name, url: url.toString(), drop };
}

export async function serverVersion(adminUrl: string): Promise<string> {
  return admin(adminUrl, async (c) => (await c.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version);
}
