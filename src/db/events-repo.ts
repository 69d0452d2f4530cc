// The event outbox. Events are inserted in the transaction of the change they describe; readers
// only look below the watermark, the oldest transaction still running (docs/decisions/002).
import { sql, type SQL } from 'drizzle-orm';
import { likePrefixPattern } from '../paths/index.js';
import type { Executor } from './database.js';
import { toEvent, type EventRecord, type NodeRecord, type RollupRecord } from './records.js';

/** Bits of a cursor left for an event's ordinal within its transaction. */
export const TX_SHIFT = 20;
const PER_TX = 1 << TX_SHIFT;

/** One row of the outbox, before the cursor is known. */
export interface NewEvent {
  type: string;
  backendId: number;
  path: string;
  node: NodeRecord | null;
  /** Stored with the node (filestore.rollup.updated). */
  rollup?: RollupRecord | null;
  sourceBackendId?: number | null;
  sourcePath?: string | null;
}

export interface EventOrigin {
  journalId: number | null;
  command: string | null;
  principal: string | null;
}

/**
 * A CTE body that inserts `events` with cursors (xid << 20) + ordinal, continuing after the events this
 * transaction already wrote, and returns their cursors.
 */
export function insertEventsSql(events: NewEvent[], origin: EventOrigin): SQL {
  if (events.length >= PER_TX) throw new Error(`a transaction may write at most ${PER_TX - 1} events`);
  const rows = events.map((e, ord) => ({
    ord,
    backend_id: e.backendId,
    type: e.type,
    node_id: e.node?.id ?? null,
    path: e.path,
    source_backend_id: e.sourceBackendId ?? null,
    source_path: e.sourcePath ?? null,
    node: e.node && e.rollup ? { ...e.node, rollup: e.rollup } : e.node,
  }));
  return sql`INSERT INTO events (backend_id, cursor, type, journal_id, command, principal, node_id, path, source_backend_id, source_path, node)
    SELECT v.backend_id, nx.first + v.ord, v.type, ${origin.journalId}, ${origin.command}, ${origin.principal}, v.node_id, v.path,
           v.source_backend_id, v.source_path, v.node
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
           AS v(ord int8, backend_id int8, type text, node_id int8, path text, source_backend_id int8, source_path text, node jsonb),
         (${nextCursorSql()}) nx
    RETURNING cursor`;
}

/** One row, `first`: the cursor of this transaction's next event (after those it already wrote). */
export function nextCursorSql(): SQL {
  return sql`SELECT coalesce(
               (SELECT max(cursor) + 1 FROM events WHERE cursor >= b.base AND cursor < b.base + ${PER_TX}), b.base) AS first
             FROM (SELECT pg_current_xact_id()::text::int8 << ${TX_SHIFT} AS base) b`;
}

/** Appends events in the caller's transaction; returns the highest cursor written. */
export async function appendEvents(tx: Executor, events: NewEvent[], origin: EventOrigin): Promise<bigint | null> {
  if (!events.length) return null;
  const rows = await tx.rows<{ last: string | null }>(sql`WITH ins AS (${insertEventsSql(events, origin)}) SELECT max(cursor)::text AS last FROM ins`);
  return rows[0]?.last ? BigInt(rows[0].last) : null;
}

export interface EventQuery {
  types?: string[] | null;
  backendId?: number;
  pathPrefix?: string;
}

function filterSql(q: EventQuery): SQL {
  const where: SQL[] = [];
  if (q.types?.length) where.push(sql`type = ANY(${`{${q.types.join(',')}}`}::text[])`);
  if (q.backendId) where.push(sql`(backend_id = ${q.backendId} OR source_backend_id = ${q.backendId})`);
  if (q.pathPrefix) {
    const like = likePrefixPattern(q.pathPrefix);
    where.push(sql`(path = ${q.pathPrefix} OR path LIKE ${like} OR source_path = ${q.pathPrefix} OR source_path LIKE ${like})`);
  }
  return where.length ? sql` AND ${sql.join(where, sql` AND `)}` : sql``;
}

/**
 * Events after `after` that are safe to deliver (below the watermark), oldest first, and the watermark:
 * every event with a smaller cursor that will ever exist is visible now.
 */
export async function readBelowWatermark(ex: Executor, after: bigint, limit: number): Promise<{ events: EventRecord[]; watermark: bigint }> {
  const rows = await ex.rows<Record<string, unknown>>(
    sql`SELECT w.watermark::text AS watermark, e.* FROM
          (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8 << ${TX_SHIFT} AS watermark) w
        LEFT JOIN LATERAL (SELECT * FROM events WHERE cursor > ${after.toString()}::int8 AND cursor < w.watermark
                           ORDER BY cursor LIMIT ${limit}) e ON true`,
  );
  const watermark = BigInt(rows[0].watermark as string);
  return { events: rows.filter((r) => r.cursor !== null && r.cursor !== undefined).map(toEvent), watermark };
}

/** Events in (after, upTo], filtered, oldest first: for a subscriber catching up from the table. */
export async function readRange(ex: Executor, after: bigint, upTo: bigint, q: EventQuery, limit: number): Promise<EventRecord[]> {
  const rows = await ex.rows(
    sql`SELECT * FROM events WHERE cursor > ${after.toString()}::int8 AND cursor <= ${upTo.toString()}::int8${filterSql(q)}
        ORDER BY cursor LIMIT ${limit}`,
  );
  return rows.map(toEvent);
}

/** The highest cursor below which events may have been pruned, for one backend or (0) for all; null if none. */
export async function prunedThrough(ex: Executor, backendId: number): Promise<bigint | null> {
  const scope = backendId ? sql` WHERE backend_id = ${backendId}` : sql``;
  const rows = await ex.rows<{ through: string | null }>(sql`SELECT max(pruned_through)::text AS through FROM event_horizons${scope}`);
  return rows[0]?.through ? BigInt(rows[0].through) : null;
}

/** Deletes up to `limit` events of a backend older than `cutoff` and raises its horizon; returns how many went. */
export async function pruneBatch(ex: Executor, backendId: number, cutoff: Date, limit: number): Promise<number> {
  const rows = await ex.rows<{ n: string | number }>(
    sql`WITH gone AS (
          DELETE FROM events WHERE backend_id = ${backendId} AND cursor IN (
            SELECT cursor FROM events WHERE backend_id = ${backendId} AND occurred_at < ${cutoff.toISOString()}
            ORDER BY occurred_at LIMIT ${limit})
          RETURNING cursor),
        horizon AS (
          INSERT INTO event_horizons (backend_id, pruned_through)
          SELECT ${backendId}, max(cursor) FROM gone HAVING count(*) > 0
          ON CONFLICT (backend_id) DO UPDATE
            SET pruned_through = greatest(event_horizons.pruned_through, excluded.pruned_through), pruned_at = now())
        SELECT count(*) AS n FROM gone`,
  );
  return Number(rows[0].n);
}

/** The first cursor that is not yet safe to deliver. */
export async function currentWatermark(ex: Executor): Promise<bigint> {
  return (await readBelowWatermark(ex, 0n, 0)).watermark;
}
