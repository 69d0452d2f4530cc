// Baseline: single-row INSERT transactions per second (autocommit, one round trip each) into
// a scratch table of a fresh database, one connection per concurrent client, driven by the
// same closed loop as the scenarios. With FILESTORE_BENCH_DB=pglite the same loop runs
// against a file-backed PGlite (one connection: calls queue, as in the embedded server).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { closedLoop, type LoopResult } from '../lib/closed-loop.js';
import { createDatabase } from '../lib/databases.js';
import type { Settings } from '../lib/env.js';

const CREATE = `CREATE TABLE scratch (
  id bigserial PRIMARY KEY,
  backend_id bigint NOT NULL,
  path text COLLATE "C" NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
)`;
const INSERT = 'INSERT INTO scratch (backend_id, path, metadata) VALUES ($1, $2, $3::jsonb)';

type Query = (sql: string, params: unknown[]) => Promise<unknown>;

async function loop(settings: Settings, concurrency: number, queryFor: (worker: number) => Query): Promise<LoopResult> {
  return closedLoop({
    concurrency,
    warmupSeconds: settings.warmupSeconds,
    seconds: settings.seconds,
    maxCalls: settings.maxCallsPerPoint,
    op: (w, seq) => queryFor(w)(INSERT, [1, `c${concurrency}/${w}/${seq}`, '{}']),
  });
}

export async function pgInsertBaseline(settings: Settings, concurrencies: number[]): Promise<Map<number, LoopResult>> {
  const results = new Map<number, LoopResult>();
  const db = await createDatabase(settings.adminUrl, 'scratch');
  try {
    const setup = new pg.Client({ connectionString: db.url });
    await setup.connect();
    await setup.query(CREATE);
    await setup.end();
    for (const c of concurrencies) {
      const clients = Array.from({ length: c }, () => new pg.Client({ connectionString: db.url }));
      try {
        await Promise.all(clients.map((cl) => cl.connect()));
        results.set(c, await loop(settings, c, (w) => (sql, params) => clients[w].query(sql, params)));
      } finally {
        await Promise.all(clients.map((cl) => cl.end().catch(() => {})));
      }
    }
  } finally {
    await db.drop();
  }
  return results;
}

export async function pgliteInsertBaseline(settings: Settings, concurrencies: number[]): Promise<Map<number, LoopResult>> {
  const { PGlite } = await import('@electric-sql/pglite');
  const results = new Map<number, LoopResult>();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'filestore-bench-pglite-'));
  const db = new PGlite(path.join(dir, 'db'));
  try {
    await db.exec(CREATE);
    for (const c of concurrencies) results.set(c, await loop(settings, c, () => (sql, params) => db.query(sql, params)));
  } finally {
    await db.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}
