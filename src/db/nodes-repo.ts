// Queries on nodes and snapshots. Callers pass the executor: the database, or a transaction.
import { sql, type SQL } from 'drizzle-orm';
import { likePrefixPattern } from '../paths/index.js';
import { contribution, subtract } from '../rollups/delta.js';
import type { Executor } from './database.js';
import { intOrNull, toNode, toSnapshot, type Json, type NodeKind, type NodeRecord, type SnapshotRecord } from './records.js';
import { holdFoldsOff, insertedNodesCtes, parentDeltaCtes, subtreeDeltaCtes } from './rollups-repo.js';

const LIVE = sql`state <> 'DELETED'`;

/** Every change of a node writes the snapshot of its new version in the same statement. */
function snapshotRowsOf(changed: SQL, journalId: number | null): SQL {
  return sql`INSERT INTO snapshots (backend_id, node_id, version, path, kind, state, size_bytes, sha256, metadata, journal_id)
             SELECT backend_id, id, version, path, kind, state, size_bytes, sha256, metadata, ${journalId} FROM ${changed}`;
}

/** Runs `change` (an INSERT or UPDATE on nodes, without RETURNING), snapshots what it changed, returns the rows. */
async function changeWithSnapshots(
  ex: Executor,
  change: SQL,
  journalId: number | null,
  select = sql`SELECT * FROM changed`,
  rollupCtes: SQL[] = [],
): Promise<NodeRecord[]> {
  const ctes = [sql`changed AS (${change} RETURNING *)`, sql`snap AS (${snapshotRowsOf(sql`changed`, journalId)})`, ...rollupCtes];
  const rows = await ex.rows(sql`WITH ${sql.join(ctes, sql`, `)} ${select}`);
  return rows.map(toNode);
}
export type LockMode = 'none' | 'share' | 'update';

function lockClause(mode: LockMode): SQL {
  if (mode === 'share') return sql` FOR SHARE`;
  if (mode === 'update') return sql` FOR UPDATE`;
  return sql``;
}

export async function findLive(ex: Executor, backendId: number, path: string, lock: LockMode = 'none'): Promise<NodeRecord | null> {
  const rows = await ex.rows(
    sql`SELECT * FROM nodes WHERE backend_id = ${backendId} AND path = ${path} AND ${LIVE}${lockClause(lock)}`,
  );
  return rows.length ? toNode(rows[0]) : null;
}

/** By id alone (any backend); deleted nodes too, so that clients can see what became of them. */
export async function findById(ex: Executor, id: number, lock: LockMode = 'none'): Promise<NodeRecord | null> {
  const rows = await ex.rows(sql`SELECT * FROM nodes WHERE id = ${id}${lockClause(lock)}`);
  return rows.length ? toNode(rows[0]) : null;
}

/**
 * Locks every live node strictly below `path`, in path order (one order for all, so no deadlocks
 * between subtree locks). A pass locks only the rows its snapshot saw; a child created meanwhile under
 * a row it had to wait for shows up in the next pass, so an update lock repeats until a pass finds
 * nothing new (the set can only grow: taking a node out needs a lock this transaction holds).
 */
export async function lockDescendants(ex: Executor, backendId: number, path: string, mode: 'share' | 'update'): Promise<number> {
  for (let locked = -1; ; ) {
    const rows = await ex.rows(
      sql`SELECT id FROM nodes WHERE backend_id = ${backendId} AND path LIKE ${likePrefixPattern(path)} AND path <> '' AND ${LIVE}
          ORDER BY path${lockClause(mode)}`,
    );
    // A share lock does not keep creators out (they share-lock the parent too): one pass is all it promises.
    if (rows.length === locked || mode === 'share') return rows.length;
    locked = rows.length;
  }
}

export async function hasLiveChildren(ex: Executor, backendId: number, parentId: number): Promise<boolean> {
  const rows = await ex.rows(sql`SELECT 1 FROM nodes WHERE backend_id = ${backendId} AND parent_id = ${parentId} AND ${LIVE} LIMIT 1`);
  return rows.length > 0;
}

export interface NewNode {
  backendId: number;
  parentId: number | null;
  path: string;
  name: string;
  kind: NodeKind;
  sizeBytes?: number;
  sha256?: string | null;
  metadata?: Json;
}

/** Inserts a live node (and its first snapshot), or returns null when a live node already holds the path (after waiting for its writer). */
export async function insertNode(ex: Executor, n: NewNode, journalId: number | null): Promise<NodeRecord | null> {
  const [node] = await changeWithSnapshots(
    ex,
    sql`INSERT INTO nodes (backend_id, parent_id, path, name, kind, size_bytes, sha256, metadata)
        VALUES (${n.backendId}, ${n.parentId}, ${n.path}, ${n.name}, ${n.kind}, ${n.sizeBytes ?? 0}, ${n.sha256 ?? null},
                ${JSON.stringify(n.metadata ?? {})}::jsonb)
        ON CONFLICT (backend_id, path) WHERE state <> 'DELETED' DO NOTHING`,
    journalId,
    undefined,
    insertedNodesCtes(),
  );
  return node ?? null;
}

export interface NodeChange {
  sizeBytes?: number;
  sha256?: string | null;
  metadata?: Json;
  state?: NodeRecord['state'];
}

/** Applies a change, bumps the version by one and snapshots it. */
export async function updateNode(ex: Executor, node: NodeRecord, change: NodeChange, journalId: number): Promise<NodeRecord> {
  const after = { kind: node.kind, state: change.state ?? node.state, sizeBytes: change.sizeBytes ?? node.sizeBytes };
  const [updated] = await changeWithSnapshots(
    ex,
    sql`UPDATE nodes SET
          version = version + 1,
          size_bytes = ${change.sizeBytes ?? node.sizeBytes},
          sha256 = ${change.sha256 === undefined ? node.sha256 : change.sha256},
          metadata = ${JSON.stringify(change.metadata ?? node.metadata)}::jsonb,
          state = ${change.state ?? node.state},
          updated_at = now()
        WHERE backend_id = ${node.backendId} AND id = ${node.id}`,
    journalId,
    undefined,
    parentDeltaCtes(subtract(contribution(after), contribution(node))),
  );
  return updated;
}

/**
 * Moves a node to a new path and parent (version + 1, snapshotted) and rewrites its descendants' paths
 * (their own version stays: only an ancestor's name changed).
 */
export async function moveSubtree(
  ex: Executor,
  node: NodeRecord,
  to: { path: string; name: string; parentId: number },
  journalId: number,
): Promise<NodeRecord> {
  if (node.kind === 'DIRECTORY') {
    await holdFoldsOff(ex, node.backendId);
    await ex.rows(
      sql`UPDATE nodes SET path = ${to.path} || substr(path, ${node.path.length + 1}), updated_at = now()
          WHERE backend_id = ${node.backendId} AND path LIKE ${likePrefixPattern(node.path)} AND ${LIVE}`,
    );
  }
  const [moved] = await changeWithSnapshots(
    ex,
    sql`UPDATE nodes SET path = ${to.path}, name = ${to.name}, parent_id = ${to.parentId}, version = version + 1, updated_at = now()
        WHERE backend_id = ${node.backendId} AND id = ${node.id}`,
    journalId,
    undefined,
    to.parentId === node.parentId ? [] : subtreeDeltaCtes(node, [{ dirId: node.parentId!, sign: -1 }, { dirId: to.parentId, sign: 1 }]),
  );
  return moved;
}

/** Marks a node and its live descendants DELETED (version + 1 each) and snapshots them. */
export async function deleteSubtree(ex: Executor, node: NodeRecord, journalId: number): Promise<NodeRecord> {
  const descendants = node.kind === 'DIRECTORY' ? sql`OR (path LIKE ${likePrefixPattern(node.path)} AND path <> '')` : sql``;
  if (node.kind === 'DIRECTORY') await holdFoldsOff(ex, node.backendId);
  const [deleted] = await changeWithSnapshots(
    ex,
    sql`UPDATE nodes SET state = 'DELETED', version = version + 1, updated_at = now(), deleted_at = now()
        WHERE backend_id = ${node.backendId} AND ${LIVE} AND (id = ${node.id} ${descendants})`,
    journalId,
    sql`SELECT * FROM changed WHERE id = ${node.id}`,
    subtreeDeltaCtes(node, [{ dirId: node.parentId!, sign: -1 }]),
  );
  return deleted;
}

/**
 * Copies a node (and, for a directory, its live subtree) to `to`, giving each copy a new id,
 * version 1 and a snapshot; each copy keeps its original's state (a MISSING file stays MISSING). Returns the copy of `node`.
 */
export async function copySubtree(
  ex: Executor,
  node: NodeRecord,
  to: { backendId: number; path: string; name: string; parentId: number },
  journalId: number,
): Promise<NodeRecord> {
  const descendants = node.kind === 'DIRECTORY' ? sql`OR (path LIKE ${likePrefixPattern(node.path)} AND path <> '')` : sql``;
  const [copy] = await changeWithSnapshots(
    ex,
    sql`WITH mapped AS (
          SELECT src.*, nextval('node_id_seq') AS new_id FROM nodes src
          WHERE src.backend_id = ${node.backendId} AND src.state <> 'DELETED' AND (src.id = ${node.id} ${descendants})
        )
        INSERT INTO nodes (backend_id, id, parent_id, path, name, kind, state, size_bytes, sha256, metadata)
        SELECT ${to.backendId}, m.new_id,
               CASE WHEN m.id = ${node.id} THEN ${to.parentId} ELSE p.new_id END,
               CASE WHEN m.id = ${node.id} THEN ${to.path} ELSE ${to.path} || substr(m.path, ${node.path.length + 1}) END,
               CASE WHEN m.id = ${node.id} THEN ${to.name} ELSE m.name END,
               m.kind, m.state, m.size_bytes, m.sha256, m.metadata
        FROM mapped m LEFT JOIN mapped p ON p.id = m.parent_id`,
    journalId,
    sql`SELECT * FROM changed WHERE path = ${to.path}`,
    insertedNodesCtes(),
  );
  return copy;
}

export async function listChildren(
  ex: Executor,
  parent: NodeRecord,
  afterName: string | null,
  limit: number,
): Promise<NodeRecord[]> {
  const after = afterName === null ? sql`` : sql` AND name > ${afterName}`;
  const rows = await ex.rows(
    sql`SELECT * FROM nodes WHERE backend_id = ${parent.backendId} AND parent_id = ${parent.id} AND ${LIVE}${after}
        ORDER BY name LIMIT ${limit}`,
  );
  return rows.map(toNode);
}

/**
 * A page of the live subtree below `dir` (not `dir` itself) in path order, after `afterPath`; one
 * range scan of the live-path index (paths are COLLATE "C": a subtree is one contiguous range).
 * `maxDepth` 0: every depth.
 */
export async function walkPage(ex: Executor, dir: NodeRecord, afterPath: string | null, limit: number, maxDepth: number): Promise<NodeRecord[]> {
  const low = afterPath ?? (dir.path === '' ? '' : `${dir.path}/`);
  // '0' is the byte after '/': every path below dir sorts before `${dir.path}0`.
  const high = dir.path === '' ? sql`` : sql` AND path < ${`${dir.path}0`}`;
  const baseDepth = dir.path === '' ? 0 : dir.path.split('/').length;
  const depth = maxDepth > 0 ? sql` AND length(path) - length(replace(path, '/', '')) < ${baseDepth + maxDepth}` : sql``;
  const rows = await ex.rows(
    sql`SELECT * FROM nodes WHERE backend_id = ${dir.backendId} AND ${LIVE} AND path > ${low}${high}${depth}
        ORDER BY path LIMIT ${limit}`,
  );
  return rows.map(toNode);
}

/** The journal entry that created a node (the one of its first snapshot). */
export async function createdBy(ex: Executor, node: NodeRecord): Promise<number | null> {
  const rows = await ex.rows(sql`SELECT journal_id FROM snapshots WHERE backend_id = ${node.backendId} AND node_id = ${node.id} AND version = 1`);
  return rows.length ? intOrNull(rows[0].journal_id) : null;
}

export async function listSnapshots(ex: Executor, node: NodeRecord, beforeVersion: number | null, limit: number): Promise<SnapshotRecord[]> {
  const before = beforeVersion === null ? sql`` : sql` AND version < ${beforeVersion}`;
  const rows = await ex.rows(
    sql`SELECT * FROM snapshots WHERE backend_id = ${node.backendId} AND node_id = ${node.id}${before}
        ORDER BY version DESC LIMIT ${limit}`,
  );
  return rows.map(toSnapshot);
}

/** Makes sure a backend's root directory node exists. */
export async function ensureRoot(ex: Executor, backendId: number): Promise<NodeRecord> {
  await insertNode(ex, { backendId, parentId: null, path: '', name: '', kind: 'DIRECTORY' }, null);
  return (await findLive(ex, backendId, ''))!;
}
