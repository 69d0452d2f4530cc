// Process liveness. A process is alive while one database session of its own holds the advisory
// lock (INSTANCE_LOCK_SPACE, lock_key) of its row: PostgreSQL drops the lock the moment that session
// ends, so a killed process is seen dead at once and a live one can never be taken for dead while its
// session lasts. The row names the process for operators and for the messages of a refused start.
import { sql, type SQL } from 'drizzle-orm';
import type { Executor } from './database.js';

/** The first key of every instance's advisory lock (the second is its lock_key). */
export const INSTANCE_LOCK_SPACE = 0x46530001;

export interface InstanceRow {
  id: string;
  lockKey: number;
  host: string;
  pid: number;
  addr: string;
  startedAt: Date;
  lastSeenAt: Date;
}

export interface InstanceInfo {
  host: string;
  pid: number;
  addr: string;
}

function toInstance(r: Record<string, unknown>): InstanceRow {
  return {
    id: r.id as string,
    lockKey: Number(r.lock_key),
    host: r.host as string,
    pid: Number(r.pid),
    addr: r.addr as string,
    startedAt: new Date(r.started_at as string),
    lastSeenAt: new Date(r.last_seen_at as string),
  };
}

/** The row of `id`, made if missing (its lock_key is then new). */
export async function ensureInstance(ex: Executor, id: string, info: InstanceInfo): Promise<InstanceRow> {
  await ex.rows(
    sql`INSERT INTO instances (id, lock_key, host, pid, addr)
        VALUES (${id}, nextval('instance_lock_keys')::int, ${info.host}, ${info.pid}, ${info.addr})
        ON CONFLICT (id) DO UPDATE SET last_seen_at = now()`, // seen: the dead-row cleanup spares it while we lock
  );
  const rows = await ex.rows(sql`SELECT * FROM instances WHERE id = ${id}`);
  return toInstance(rows[0]);
}

/** Session-level: held until released or the session ends. */
export async function tryLockInstance(ex: Executor, lockKey: number): Promise<boolean> {
  const rows = await ex.rows<{ got: boolean }>(sql`SELECT pg_try_advisory_lock(${INSTANCE_LOCK_SPACE}, ${lockKey}) AS got`);
  return rows[0].got === true;
}

export async function unlockInstance(ex: Executor, lockKey: number): Promise<void> {
  await ex.rows(sql`SELECT pg_advisory_unlock(${INSTANCE_LOCK_SPACE}, ${lockKey})`);
}

/** After taking the lock: the row describes this process. False if the row is no longer the one locked. */
export async function claimInstance(ex: Executor, id: string, lockKey: number, info: InstanceInfo): Promise<boolean> {
  const rows = await ex.rows(
    sql`UPDATE instances SET host = ${info.host}, pid = ${info.pid}, addr = ${info.addr}, started_at = now(), last_seen_at = now()
        WHERE id = ${id} AND lock_key = ${lockKey} RETURNING id`,
  );
  return rows.length > 0;
}

/** Also the session's health probe. False if the row is gone or names another lock: the lease is lost. */
export async function touchInstance(ex: Executor, id: string, lockKey: number): Promise<boolean> {
  const rows = await ex.rows(sql`UPDATE instances SET last_seen_at = now() WHERE id = ${id} AND lock_key = ${lockKey} RETURNING id`);
  return rows.length > 0;
}

export async function deleteInstance(ex: Executor, id: string): Promise<void> {
  await ex.rows(sql`DELETE FROM instances WHERE id = ${id}`);
}

/**
 * True where the process named by `owner` (an SQL expression) is alive. `exclusive`: this process
 * holds the database alone (the embedded mode), so every other owner is dead.
 */
export function ownerAlive(owner: SQL, me: string, exclusive: boolean): SQL {
  if (exclusive) return sql`(${owner} = ${me})`;
  return sql`(${owner} = ${me} OR EXISTS (
    SELECT 1 FROM instances i JOIN pg_locks l
      ON l.locktype = 'advisory' AND l.granted AND l.classid = ${INSTANCE_LOCK_SPACE}::oid
     AND l.objid = i.lock_key::oid AND l.objsubid = 2
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    WHERE i.id = ${owner}))`;
}

/**
 * Ids among `owners` (staging areas found on a backend) whose process this database knows (a row or a
 * PENDING entry) and is dead. An area nobody here knows may belong to another installation sharing the root.
 */
export async function deadOwners(ex: Executor, owners: string[], me: string, exclusive: boolean): Promise<Set<string>> {
  if (owners.length === 0) return new Set();
  const rows = await ex.rows<{ owner: string }>(
    sql`SELECT o AS owner FROM jsonb_array_elements_text(${JSON.stringify(owners)}::jsonb) AS o
        WHERE (EXISTS (SELECT 1 FROM instances k WHERE k.id = o)
               OR EXISTS (SELECT 1 FROM journal_entries j WHERE j.instance_id = o AND j.status = 'PENDING'))
          AND NOT ${ownerAlive(sql`o`, me, exclusive)}`,
  );
  return new Set(rows.map((r) => r.owner));
}

/**
 * Rows of dead processes that left nothing PENDING and are not in `keep` (owners with intents or
 * staging left: their row is what marks them dead to the next sweep); `minAgeMs` spares a process
 * still starting.
 */
export async function deleteDeadInstances(ex: Executor, me: string, exclusive: boolean, minAgeMs: number, keep: string[]): Promise<number> {
  const rows = await ex.rows(
    sql`DELETE FROM instances d
        WHERE d.id <> ${me} AND d.last_seen_at < now() - make_interval(secs => ${minAgeMs / 1000})
          AND d.id NOT IN (SELECT jsonb_array_elements_text(${JSON.stringify(keep)}::jsonb))
          AND NOT ${ownerAlive(sql`d.id`, me, exclusive)}
          AND NOT EXISTS (SELECT 1 FROM journal_entries j WHERE j.instance_id = d.id AND j.status = 'PENDING')
        RETURNING d.id`,
  );
  return rows.length;
}

export async function getInstance(ex: Executor, id: string): Promise<InstanceRow | null> {
  const rows = await ex.rows(sql`SELECT * FROM instances WHERE id = ${id}`);
  return rows.length ? toInstance(rows[0]) : null;
}
