// A database session of its own, apart from the pools: it holds this process's instance lock for as
// long as it lives (PostgreSQL releases session locks when the session ends) and is the probe that
// tells whether the database can be reached.
import pg from 'pg';
import type { Executor } from './database.js';
import { databaseErrorToDomain } from './db-errors.js';

export interface Session extends Executor {
  /** Resolves once the session is gone (the server went away, the network dropped it, or close()). */
  readonly ended: Promise<void>;
  close(): Promise<void>;
}

export async function openSession(url: string, connectTimeoutMs: number): Promise<Session> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: connectTimeoutMs,
    // A probe on a half-open socket must fail, not hang.
    query_timeout: 5_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 5_000,
    // The server ends a vanished host's session (and releases its lock) within about 20 s, not hours.
    options: '-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 -c tcp_user_timeout=20000',
  });
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  client.on('error', () => end());
  client.on('end', () => end());
  try {
    await client.connect();
  } catch (err) {
    end();
    throw databaseErrorToDomain(err) ?? err;
  }
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const orm = drizzle(client);
  return {
    ended,
    async rows<T>(query: Parameters<Executor['rows']>[0]): Promise<T[]> {
      try {
        return ((await orm.execute(query)) as unknown as { rows: T[] }).rows;
      } catch (err) {
        throw databaseErrorToDomain(err) ?? err;
      }
    },
    async close() {
      await client.end().catch(() => {});
      end();
    },
  };
}
