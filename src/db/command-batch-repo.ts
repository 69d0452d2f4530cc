// The statement of a group commit (docs/decisions/008): for a batch of commands that each create one
// node below an existing directory, the checks, the node rows, their snapshots and rollup bookkeeping,
// the journal entries (SUCCEEDED, with their results: nobody sees them before the commit, and the
// commit comes after the disk steps) and the events (node.created, then command.completed, per
// command), all in one statement. A command the statement cannot take as is (its parent missing or not
// a usable directory, its path taken, its idempotency key in use or shared with a batch-mate, or a
// batch-mate on the same path)
// gets no row at all, and runs on its own.
import { sql } from 'drizzle-orm';
import { planEachCall, type Executor } from './database.js';
import { nextCursorSql } from './events-repo.js';
import type { IdentifiedEntry } from './journal-repo.js';
import { insertedNodesCtes } from './rollups-repo.js';
import { toNode, type Json, type NodeKind, type NodeRecord } from './records.js';

export interface NodeCreation {
  entry: IdentifiedEntry;
  parentPath: string;
  name: string;
  kind: NodeKind;
  sizeBytes: number;
  sha256: string | null;
  metadata: Json;
}

export interface BatchWritten {
  /** Per creation, in the order given: the node it inserted, or null (nothing was written for it). */
  nodes: (NodeRecord | null)[];
  /** The last event's cursor; null when nothing was written. */
  lastCursor: bigint | null;
}

/** The node as JSON, as JSON.stringify writes a NodeRecord (records.ts): what results and events carry. */
const NODE_JSON = sql`jsonb_build_object(
  'backendId', c.backend_id, 'id', c.id, 'parentId', c.parent_id, 'path', c.path, 'name', c.name, 'kind', c.kind,
  'state', c.state, 'version', c.version, 'sizeBytes', c.size_bytes, 'sha256', c.sha256, 'metadata', c.metadata,
  'createdAt', to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
  'updatedAt', to_char(c.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`;

export async function insertCommandsWithNodes(tx: Executor, creations: NodeCreation[], events: { created: string; completed: string }): Promise<BatchWritten> {
  const input = creations.map(({ entry: e, ...n }, ord) => ({
    ord,
    id: e.id,
    backend_id: e.backendId,
    path: e.path,
    parent_path: n.parentPath,
    name: n.name,
    kind: n.kind,
    size_bytes: n.sizeBytes,
    sha256: n.sha256,
    metadata: n.metadata,
    command: e.command,
    principal: e.principal,
    idempotency_key: e.idempotencyKey,
    params_hash: e.paramsHash,
    params: e.params,
    plan: e.plan,
    instance_id: e.instanceId,
  }));
  const rows = await tx.rows<Record<string, unknown> & { ord: number }>(
    planEachCall(sql`WITH input AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS i(
            ord int4, id int8, backend_id int8, path text, parent_path text, name text, kind text, size_bytes int8, sha256 text,
            metadata jsonb, command text, principal text, idempotency_key text, params_hash text, params jsonb, plan jsonb, instance_id text)
        ),
        -- One index probe per command (LATERAL): never a scan of nodes, whatever the planner thinks of their number.
        ok AS (
          SELECT DISTINCT ON (i.backend_id, i.path) i.*, p.id AS parent_id
          FROM input i CROSS JOIN LATERAL (
            SELECT n.id FROM nodes n
            WHERE n.backend_id = i.backend_id AND n.path = i.parent_path
              AND n.state <> 'DELETED' AND n.state IN ('ACTIVE', 'INCONSISTENT') AND n.kind = 'DIRECTORY'
            FOR SHARE
          ) p
          -- A key in use, or used twice in this batch (another path, another backend): the command runs alone.
          WHERE i.idempotency_key IS NULL OR (
            NOT EXISTS (
              SELECT 1 FROM journal_entries j
              WHERE j.principal = i.principal AND j.idempotency_key = i.idempotency_key AND j.idempotency_active)
            AND NOT EXISTS (
              SELECT 1 FROM input i2
              WHERE i2.principal = i.principal AND i2.idempotency_key = i.idempotency_key AND i2.ord <> i.ord))
          ORDER BY i.backend_id, i.path, i.ord
        ),
        changed AS (
          INSERT INTO nodes (backend_id, parent_id, path, name, kind, size_bytes, sha256, metadata)
          SELECT backend_id, parent_id, path, name, kind, size_bytes, sha256, metadata FROM ok ORDER BY backend_id, path
          ON CONFLICT (backend_id, path) WHERE state <> 'DELETED' DO NOTHING
          RETURNING *
        ),
        made AS (
          SELECT c.*, o.ord, o.id AS journal_id, ${NODE_JSON} AS node_json, (row_number() OVER (ORDER BY o.ord) - 1) AS rank
          FROM changed c JOIN ok o ON o.backend_id = c.backend_id AND o.path = c.path
        ),
        snap AS (
          INSERT INTO snapshots (backend_id, node_id, version, path, kind, state, size_bytes, sha256, metadata, journal_id)
          SELECT backend_id, id, version, path, kind, state, size_bytes, sha256, metadata, journal_id FROM made
        ),
        ${sql.join(insertedNodesCtes(), sql`, `)},
        entries AS (
          INSERT INTO journal_entries (backend_id, id, command, status, principal, idempotency_key, idempotency_active, params_hash,
                                       params, plan, path, node_id, instance_id, result, completed_at)
          SELECT o.backend_id, o.id, o.command, 'SUCCEEDED', o.principal, o.idempotency_key, true, o.params_hash, o.params, o.plan,
                 o.path, m.id, o.instance_id, jsonb_build_object('node', m.node_json), now()
          FROM made m JOIN ok o ON o.ord = m.ord
        ),
        ev AS (
          INSERT INTO events (backend_id, cursor, type, journal_id, command, principal, node_id, path, node)
          SELECT m.backend_id, nx.first + m.rank * 2 + k.k, k.type, o.id, o.command, o.principal, m.id, m.path, m.node_json
          FROM made m JOIN ok o ON o.ord = m.ord, (${nextCursorSql()}) nx,
               (VALUES (0, ${events.created}::text), (1, ${events.completed}::text)) AS k(k, type)
          RETURNING cursor
        )
        SELECT made.*, (SELECT max(cursor)::text FROM ev) AS last_cursor FROM made`),
  );
  const byOrd = new Map(rows.map((r) => [Number(r.ord), toNode(r)]));
  const last = rows[0]?.last_cursor;
  return { nodes: creations.map((_, ord) => byOrd.get(ord) ?? null), lastCursor: typeof last === 'string' ? BigInt(last) : null };
}
