// A real server for the rollups section: its own fresh PostgreSQL database and data directory, BullMQ in
// the local Redis under a prefix of its own (workers in-process, as `npm start` runs them), and a pg
// connection to its database for the bench to look at (and load) rows directly.
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { BenchClient } from './client.js';
import { defer } from './cleanup.js';
import { createDatabase } from './databases.js';
import type { Settings } from './env.js';
import type { Served } from './proc.js';
import type { BenchRedis } from './redis.js';
import { realServer } from './server.js';

export interface RollupServer {
  served: Served;
  client: BenchClient;
  /** A connection to the server's database. */
  db: pg.Client;
  database: string;
  /** This server's BullMQ prefix. */
  prefix: string;
  stop(): Promise<void>;
}

let started = 0;

export async function startRollupServer(settings: Settings, redis: BenchRedis, dataDir: string, rollups: 'on' | 'off'): Promise<RollupServer> {
  const prefix = `${redis.prefix}-${started + 1}`;
  const s = await startDbServer(settings, dataDir, 'rollups', {
    FILESTORE_ROLLUPS: rollups,
    FILESTORE_WORKERS: 'on',
    REDIS_URL: redis.url,
    FILESTORE_QUEUE_PREFIX: prefix,
  });
  return { ...s, prefix };
}

/** A real server on a fresh PostgreSQL database of its own, with a connection for the bench to its database. */
export async function startDbServer(settings: Settings, dataDir: string, label: string, extra: Record<string, string> = {}): Promise<Omit<RollupServer, 'prefix'>> {
  const n = ++started;
  const database = await createDatabase(settings.adminUrl, `${label}${n}`);
  const dir = await mkdtemp(path.join(dataDir, `${label}-${n}-`));
  const served = await realServer(dir, database.url, extra);
  const client = new BenchClient(served.address);
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  const stop = defer(`stop ${label} server ${n}`, async () => {
    client.close();
    await db.end().catch(() => {});
    await served.stop();
    await database.drop();
  });
  return { served, client, db, database: database.name, stop };
}

/** Backend 1's root directory id, once the server has created it. */
export async function rootId(db: pg.Client, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ id: string }>(`SELECT id FROM nodes WHERE backend_id = 1 AND path = '' AND state <> 'DELETED'`);
    if (rows.length) return Number(rows[0].id);
    if (Date.now() > deadline) throw new Error(`backend 1 has no root node after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
