// The append-only command journal. A command inserts its entry PENDING first in its transaction and
// completes it in the same transaction as its metadata changes: one commit (docs/decisions/006).
// Entries are committed PENDING only by crash recovery, which resolves them in the same transaction.
import { sql, type SQL } from 'drizzle-orm';
import { likePrefixPattern } from '../paths/index.js';
import type { Executor } from './database.js';
import { insertEventsSql, type NewEvent } from './events-repo.js';
import { toJournal, type Json, type JournalRecord, type JournalStatus, type NodeRecord } from './records.js';

export interface NewJournalEntry {
  backendId: number;
  command: string;
  principal: string;
  idempotencyKey: string | null;
  paramsHash: string;
  params: Json;
  plan: Json;
  path: string;
  targetBackendId: number | null;
  targetPath: string | null;
  nodeId: number | null;
  instanceId: string;
}

/** An entry with its id chosen beforehand (allocateIds), so that its intent can name it. */
export interface IdentifiedEntry extends NewJournalEntry {
  id: number;
}

/** `n` fresh entry ids in one round trip. */
export async function allocateIds(ex: Executor, n: number): Promise<number[]> {
  const rows = await ex.rows<{ id: unknown }>(sql`SELECT nextval('journal_entries_id_seq') AS id FROM generate_series(1, ${n})`);
  return rows.map((r) => Number(r.id));
}

function entryValues(e: IdentifiedEntry, status: JournalStatus, key: string | null, error: Json | null): SQL {
  return sql`(${e.backendId}, ${e.id}, ${e.command}, ${status}, ${e.principal}, ${key}, ${status === 'PENDING'},
              ${e.paramsHash}, ${JSON.stringify(e.params)}::jsonb, ${JSON.stringify(e.plan)}::jsonb, ${e.path}, ${e.targetBackendId},
              ${e.targetPath}, ${e.nodeId}, ${e.instanceId}, ${error === null ? null : JSON.stringify(error)}::jsonb,
              ${status === 'PENDING' ? null : sql`now()`})`;
}

const ENTRY_COLUMNS = sql`(backend_id, id, command, status, principal, idempotency_key, idempotency_active, params_hash, params, plan,
                           path, target_backend_id, target_path, node_id, instance_id, error, completed_at)`;

/**
 * Inserts the entry PENDING (in the command's transaction, so nobody sees it before it commits).
 * False when an active entry already holds the idempotency key (after waiting for its transaction).
 */
export async function insertPending(ex: Executor, e: IdentifiedEntry): Promise<boolean> {
  const rows = await ex.rows(
    sql`INSERT INTO journal_entries ${ENTRY_COLUMNS} VALUES ${entryValues(e, 'PENDING', e.idempotencyKey, null)}
        ON CONFLICT (backend_id, principal, idempotency_key) WHERE idempotency_key IS NOT NULL AND idempotency_active
        DO NOTHING
        RETURNING id`,
  );
  return rows.length > 0;
}

/** A refused command's entry, written after its transaction rolled back: FAILED, its key released. */
export async function insertFailed(ex: Executor, e: IdentifiedEntry, error: { code: string; reason: string; message: string }): Promise<void> {
  await ex.rows(sql`INSERT INTO journal_entries ${ENTRY_COLUMNS} VALUES ${entryValues(e, 'FAILED', e.idempotencyKey, error)} ON CONFLICT DO NOTHING`);
}

/**
 * Crash recovery's claim on an intent's entry: inserts it PENDING for the recoverer to resolve in the
 * same transaction. Waits for a command still holding that id; null when the entry exists (it committed,
 * or was already resolved). Without its key when another entry holds the key now.
 */
export async function claimForRecovery(ex: Executor, e: IdentifiedEntry): Promise<JournalRecord | null> {
  // The insert waits while the command's own transaction runs; a transaction its client left open (a
  // partitioned connection) must not stall recovery: give up after a while, the next sweep retries.
  // The same bound holds for the recoverer's locks in this transaction (a live command holding rows).
  await ex.rows(sql`SET LOCAL lock_timeout = '1s'`);
  for (const key of e.idempotencyKey === null ? [null] : [e.idempotencyKey, null]) {
    const rows = await ex.rows(
      sql`INSERT INTO journal_entries ${ENTRY_COLUMNS} VALUES ${entryValues(e, 'PENDING', key, null)} ON CONFLICT DO NOTHING RETURNING *`,
    );
    if (rows.length) return toJournal(rows[0]);
    if (await getEntry(ex, e.id, e.backendId)) return null;
  }
  return null;
}

export async function findByIdempotencyKey(ex: Executor, backendId: number, principal: string, key: string): Promise<JournalRecord | null> {
  const rows = await ex.rows(
    sql`SELECT * FROM journal_entries
        WHERE backend_id = ${backendId} AND principal = ${principal} AND idempotency_key = ${key} AND idempotency_active`,
  );
  return rows.length ? toJournal(rows[0]) : null;
}

/** An active use of the key by the principal on another backend (keys are per principal, not per backend). */
export async function findKeyOnOtherBackend(ex: Executor, backendId: number, principal: string, key: string): Promise<JournalRecord | null> {
  const rows = await ex.rows(
    sql`SELECT * FROM journal_entries
        WHERE principal = ${principal} AND idempotency_key = ${key} AND idempotency_active AND backend_id <> ${backendId}
        LIMIT 1`,
  );
  return rows.length ? toJournal(rows[0]) : null;
}

export interface Completion {
  backendId: number;
  id: number;
  command: string;
  principal: string;
}

/**
 * Marks the entry SUCCEEDED with `node` as its result and writes its events in the same statement
 * (an event exists if and only if its command committed). Returns the last event's cursor.
 */
export async function markSucceeded(ex: Executor, entry: Completion, node: NodeRecord, events: NewEvent[]): Promise<bigint> {
  const origin = { journalId: entry.id, command: entry.command, principal: entry.principal };
  const rows = await ex.rows<{ last: string; done: number }>(
    sql`WITH done AS (
          UPDATE journal_entries SET status = 'SUCCEEDED', node_id = ${node.id},
            result = ${JSON.stringify({ node })}::jsonb, completed_at = now()
          WHERE backend_id = ${entry.backendId} AND id = ${entry.id} AND status = 'PENDING' RETURNING 1),
        ins AS (${insertEventsSql(events, origin)})
        SELECT max(cursor)::text AS last, (SELECT count(*) FROM done)::int AS done FROM ins`,
  );
  // Not PENDING any more (recovery resolved it): the caller's transaction must not commit.
  if (rows[0].done !== 1) throw new Error(`journal entry ${entry.id} is no longer PENDING; not completing it`);
  return BigInt(rows[0].last);
}

/** FAILED or ROLLED_BACK: the command had no effect, so its idempotency key is released. */
export async function markEnded(
  ex: Executor,
  backendId: number,
  id: number,
  status: Exclude<JournalStatus, 'PENDING' | 'SUCCEEDED'>,
  error: { code: string; reason: string; message: string } | null,
): Promise<void> {
  await ex.rows(
    sql`UPDATE journal_entries SET status = ${status}, error = ${error ? JSON.stringify(error) : null}::jsonb,
          idempotency_active = false, completed_at = now()
        WHERE backend_id = ${backendId} AND id = ${id} AND status = 'PENDING'`,
  );
}

export async function getEntry(ex: Executor, id: number, backendId?: number): Promise<JournalRecord | null> {
  const scope = backendId === undefined ? sql`` : sql` AND backend_id = ${backendId}`;
  const rows = await ex.rows(sql`SELECT * FROM journal_entries WHERE id = ${id}${scope}`);
  return rows.length ? toJournal(rows[0]) : null;
}

/**
 * Proves that this transaction still holds its own (uncommitted) entry: a statement on its connection.
 * False when the entry is not PENDING (resolved by someone else).
 */
export async function holdPending(ex: Executor, backendId: number, id: number): Promise<boolean> {
  const rows = await ex.rows(
    sql`SELECT id FROM journal_entries WHERE backend_id = ${backendId} AND id = ${id} AND status = 'PENDING' FOR NO KEY UPDATE`,
  );
  return rows.length > 0;
}

/** Which of `keys` have an entry. */
export async function existingIds(ex: Executor, keys: { backendId: number; id: number }[]): Promise<Set<number>> {
  if (keys.length === 0) return new Set();
  const rows = await ex.rows<{ id: unknown }>(
    sql`SELECT je.id FROM journal_entries je
        JOIN unnest(${`{${keys.map((k) => k.backendId).join(',')}}`}::int8[], ${`{${keys.map((k) => k.id).join(',')}}`}::int8[]) AS k(backend_id, id)
          ON je.backend_id = k.backend_id AND je.id = k.id`,
  );
  return new Set(rows.map((r) => Number(r.id)));
}

/** Recovery's claim on an entry: null when it is no longer PENDING or a command holds it right now. */
export async function lockPending(ex: Executor, backendId: number, id: number): Promise<JournalRecord | null> {
  const rows = await ex.rows(
    sql`SELECT * FROM journal_entries WHERE backend_id = ${backendId} AND id = ${id} AND status = 'PENDING'
        FOR NO KEY UPDATE SKIP LOCKED`,
  );
  return rows.length ? toJournal(rows[0]) : null;
}

/** This process's PENDING entries created more than `olderThanMs` ago. */
export async function ownPendingEntries(ex: Executor, instanceId: string, olderThanMs: number): Promise<JournalRecord[]> {
  const rows = await ex.rows(
    sql`SELECT * FROM journal_entries WHERE instance_id = ${instanceId} AND status = 'PENDING'
          AND created_at < now() - make_interval(secs => ${olderThanMs / 1000})
        ORDER BY id`,
  );
  return rows.map(toJournal);
}

/** PENDING entries on `backendIds` whose process is dead (see instances-repo). */
export async function deadOwnersEntries(ex: Executor, alive: (owner: SQL) => SQL, backendIds: number[], limit: number): Promise<JournalRecord[]> {
  if (backendIds.length === 0) return [];
  const rows = await ex.rows(
    sql`SELECT * FROM journal_entries je
        WHERE je.status = 'PENDING' AND je.backend_id IN (${sql.join(backendIds.map((b) => sql`${b}`), sql`, `)})
          AND NOT ${alive(sql`je.instance_id`)}
        ORDER BY je.id LIMIT ${limit}`,
  );
  return rows.map(toJournal);
}

/** Owner and plan of every PENDING entry: the staging objects that must stay. */
export async function pendingPlans(ex: Executor): Promise<{ instanceId: string; plan: Json }[]> {
  const rows = await ex.rows<{ instance_id: string; plan: Json }>(sql`SELECT instance_id, plan FROM journal_entries WHERE status = 'PENDING'`);
  return rows.map((r) => ({ instanceId: r.instance_id, plan: r.plan }));
}

export interface JournalFilter {
  backendId?: number;
  pathPrefix?: string;
  command?: string;
  status?: JournalStatus;
  since?: Date;
  until?: Date;
  beforeId?: number;
}

function underPrefix(column: SQL, prefix: string): SQL {
  return sql`(${column} = ${prefix} OR ${column} LIKE ${likePrefixPattern(prefix)})`;
}

/** Newest first. */
export async function listEntries(ex: Executor, f: JournalFilter, limit: number): Promise<JournalRecord[]> {
  const where: SQL[] = [sql`true`];
  if (f.backendId) where.push(sql`backend_id = ${f.backendId}`);
  if (f.pathPrefix) where.push(sql`(${underPrefix(sql`path`, f.pathPrefix)} OR ${underPrefix(sql`target_path`, f.pathPrefix)})`);
  if (f.command) where.push(sql`command = ${f.command}`);
  if (f.status) where.push(sql`status = ${f.status}`);
  if (f.since) where.push(sql`created_at >= ${f.since.toISOString()}`);
  if (f.until) where.push(sql`created_at < ${f.until.toISOString()}`);
  if (f.beforeId) where.push(sql`id < ${f.beforeId}`);
  const rows = await ex.rows(
    sql`SELECT * FROM journal_entries WHERE ${sql.join(where, sql` AND `)} ORDER BY id DESC LIMIT ${limit}`,
  );
  return rows.map(toJournal);
}
