// Rollup bookkeeping in SQL. Commands append deltas (the change to a directory's direct contents)
// inside their own statements; the rollup worker folds deltas into `rollups` rows and carries them up.
// Folds and recomputes of a backend hold its rollup lock exclusively; a command that reads a
// directory's folded rollup (to move or delete it) holds it shared, so the figure it reads cannot
// change before it commits (docs/decisions/003-rollups.md).
import { sql, type SQL } from 'drizzle-orm';
import { likePrefixPattern } from '../paths/index.js';
import { isZero, type Delta } from '../rollups/delta.js';
import type { Executor, Row } from './database.js';
import { date, int, toNode, type NodeRecord, type RollupRecord, type RollupState } from './records.js';

const ROLLUP_LOCK = 7_342_002; // advisory lock class; the object is the backend id

let recording = true;

/** Off (FILESTORE_ROLLUPS=off): writes append no deltas and GetNode sums the subtree on each call. */
export function setRollupRecording(on: boolean): void {
  recording = on;
}

export function rollupsRecorded(): boolean {
  return recording;
}

export async function lockFolds(ex: Executor, backendId: number): Promise<void> {
  await ex.rows(sql`SELECT pg_advisory_xact_lock(${ROLLUP_LOCK}, ${backendId}::int)`);
}

/** Keeps folds of this backend off until the caller's transaction ends (see the file comment). */
export async function holdFoldsOff(ex: Executor, backendId: number): Promise<void> {
  if (recording) await ex.rows(sql`SELECT pg_advisory_xact_lock_shared(${ROLLUP_LOCK}, ${backendId}::int)`);
}

const INSERT_DELTAS = sql`INSERT INTO rollup_deltas (backend_id, dir_id, size_bytes, file_count, dir_count)`;

/**
 * CTEs for a statement whose `changed` CTE inserted live nodes: a rollup row for each new directory,
 * and what the new nodes add to their parents, one delta per parent.
 */
export function insertedNodesCtes(): SQL[] {
  const rows = sql`rollup_rows AS (INSERT INTO rollups (backend_id, dir_id) SELECT backend_id, id FROM changed WHERE kind = 'DIRECTORY' ON CONFLICT DO NOTHING)`;
  if (!recording) return [rows];
  return [
    rows,
    sql`rollup_delta AS (${INSERT_DELTAS}
          SELECT backend_id, parent_id, coalesce(sum(size_bytes) FILTER (WHERE kind = 'FILE'), 0),
                 count(*) FILTER (WHERE kind = 'FILE'), count(*) FILTER (WHERE kind = 'DIRECTORY')
          FROM changed WHERE parent_id IS NOT NULL AND state <> 'DELETED' GROUP BY backend_id, parent_id)`,
  ];
}

/** A CTE adding `d` to the parent of the single node in `changed`. */
export function parentDeltaCtes(d: Delta): SQL[] {
  if (!recording || isZero(d)) return [];
  return [
    sql`rollup_delta AS (${INSERT_DELTAS}
          SELECT backend_id, parent_id, ${d.sizeBytes}, ${d.fileCount}, ${d.dirCount} FROM changed WHERE parent_id IS NOT NULL)`,
  ];
}

/**
 * A CTE moving a whole subtree's weight (the node itself plus, for a directory, its folded rollup)
 * out of or into directories: sign -1 or +1 per directory. For a directory, the caller holds folds off.
 */
export function subtreeDeltaCtes(node: NodeRecord, moves: { dirId: number; sign: 1 | -1 }[]): SQL[] {
  const targets = moves.filter((m) => m.dirId);
  if (!recording || !targets.length) return [];
  const weight =
    node.kind === 'DIRECTORY'
      ? sql`SELECT coalesce(sum(size_bytes), 0) AS size_bytes, coalesce(sum(file_count), 0) AS file_count, coalesce(sum(dir_count), 0) + 1 AS dir_count
            FROM rollups WHERE backend_id = ${node.backendId} AND dir_id = ${node.id}`
      : sql`SELECT ${node.sizeBytes}::int8 AS size_bytes, 1::int8 AS file_count, 0::int8 AS dir_count`;
  return [
    sql`rollup_delta AS (${INSERT_DELTAS}
          SELECT ${node.backendId}, v.dir_id, v.sign * w.size_bytes, v.sign * w.file_count, v.sign * w.dir_count
          FROM jsonb_to_recordset(${JSON.stringify(targets.map((m) => ({ dir_id: m.dirId, sign: m.sign })))}::jsonb) AS v(dir_id int8, sign int8),
               (${weight}) w)`,
  ];
}

export interface FoldedBatch {
  /** Deltas taken out of the table. */
  claimed: number;
  /** Directories whose rollup changed, the shallowest first (at most MAX_ROLLUP_EVENTS), with their new rollup. */
  changed: { node: NodeRecord; rollup: RollupRecord }[];
}

/**
 * One fold batch in one statement (one snapshot): takes up to `limit` of the backend's oldest deltas
 * out of the table, carries each from its directory up the parent chain to the root, and adds the
 * sums to the rollup rows. Deltas of directories no longer live are dropped: the delete took the
 * directory's folded weight out of its ancestors, and what it did not fold never reached them (a live
 * directory's ancestors are live). The caller holds the backend's rollup lock, so no directory moves
 * or disappears meanwhile; its transaction commits the batch or gives every delta back.
 */
export async function foldBatch(ex: Executor, backendId: number, limit: number): Promise<FoldedBatch> {
  const rows = await ex.rows(
    sql`WITH RECURSIVE claimed AS (
          DELETE FROM rollup_deltas WHERE backend_id = ${backendId}
            AND id IN (SELECT id FROM rollup_deltas WHERE backend_id = ${backendId} ORDER BY id LIMIT ${limit})
          RETURNING dir_id, size_bytes, file_count, dir_count),
        chain AS (
          SELECT n.id, n.parent_id, c.size_bytes, c.file_count, c.dir_count
          FROM claimed c JOIN nodes n ON n.backend_id = ${backendId} AND n.id = c.dir_id AND n.kind = 'DIRECTORY' AND n.state <> 'DELETED'
          UNION ALL
          SELECT p.id, p.parent_id, chain.size_bytes, chain.file_count, chain.dir_count
          FROM chain JOIN nodes p ON p.backend_id = ${backendId} AND p.id = chain.parent_id),
        sums AS (
          SELECT id, sum(size_bytes)::int8 AS b, sum(file_count)::int8 AS f, sum(dir_count)::int8 AS d FROM chain GROUP BY id
          HAVING (sum(size_bytes), sum(file_count), sum(dir_count)) <> (0, 0, 0)),
        upd AS (
          INSERT INTO rollups AS r (backend_id, dir_id, size_bytes, file_count, dir_count, calculated_at)
          SELECT ${backendId}, id, b, f, d, now() FROM sums
          ON CONFLICT (backend_id, dir_id) DO UPDATE SET
            size_bytes = r.size_bytes + excluded.size_bytes, file_count = r.file_count + excluded.file_count,
            dir_count = r.dir_count + excluded.dir_count, calculated_at = now()
          RETURNING r.dir_id, r.size_bytes, r.file_count, r.dir_count, r.stale, r.calculated_at),
        changed AS (
          SELECT n.*, upd.size_bytes AS r_size_bytes, upd.file_count AS r_file_count, upd.dir_count AS r_dir_count,
                 upd.stale AS r_stale, upd.calculated_at AS r_calculated_at
          FROM upd JOIN nodes n ON n.backend_id = ${backendId} AND n.id = upd.dir_id
          ORDER BY length(n.path) - length(replace(n.path, '/', '')), n.path LIMIT ${MAX_ROLLUP_EVENTS})
        SELECT k.claimed, changed.* FROM (SELECT count(*) AS claimed FROM claimed) k LEFT JOIN changed ON true`,
  );
  const changed = rows.filter((r) => r.id !== null).map((r) => ({ node: toNode(r), rollup: rollupOf(r, 'r_', 'UP_TO_DATE') }));
  return { claimed: int(rows[0].claimed), changed };
}

/** At most this many filestore.rollup.updated events per fold or recompute: the shallowest directories'. */
export const MAX_ROLLUP_EVENTS = 10_000;

/** Live directories with their rollups, by id, the shallowest first, at most MAX_ROLLUP_EVENTS. */
export async function dirsWithRollups(ex: Executor, backendId: number, ids: number[]): Promise<{ node: NodeRecord; rollup: RollupRecord }[]> {
  if (!ids.length) return [];
  const rows = await ex.rows(
    sql`SELECT n.*, r.size_bytes AS r_size_bytes, r.file_count AS r_file_count, r.dir_count AS r_dir_count, r.stale AS r_stale, r.calculated_at AS r_calculated_at
        FROM nodes n JOIN rollups r ON r.backend_id = n.backend_id AND r.dir_id = n.id
        WHERE n.backend_id = ${backendId} AND n.id = ANY(${`{${ids.join(',')}}`}::int8[]) AND n.state <> 'DELETED'
        ORDER BY length(n.path) - length(replace(n.path, '/', '')), n.path LIMIT ${MAX_ROLLUP_EVENTS}`,
  );
  return rows.map((r) => ({ node: toNode(r), rollup: rollupOf(r, 'r_', 'UP_TO_DATE') }));
}

function rollupOf(r: Record<string, unknown>, prefix: string, state: RollupState): RollupRecord {
  return {
    sizeBytes: int(r[`${prefix}size_bytes`]),
    fileCount: int(r[`${prefix}file_count`]),
    dirCount: int(r[`${prefix}dir_count`]),
    state: r[`${prefix}stale`] ? 'STALE' : state,
    calculatedAt: date(r[`${prefix}calculated_at`]),
  };
}

/** Beyond this many outstanding deltas, a directory's rollup is reported PENDING without looking closer. */
const PENDING_SCAN_LIMIT = 1000;

/**
 * A directory's folded rollup, PENDING while deltas inside its subtree wait to be folded, STALE while a
 * recompute is due. The subtree is taken from the directory's row in this same statement, so that a
 * move committed since the caller read the node cannot hide its pending deltas.
 */
export async function readRollup(ex: Executor, dir: NodeRecord): Promise<RollupRecord | null> {
  const rows = await ex.rows(
    sql`SELECT r.*, w.scanned, w.mine
        FROM rollups r JOIN nodes p ON p.backend_id = r.backend_id AND p.id = r.dir_id
        CROSS JOIN LATERAL (${pendingScan('p')}) w
        WHERE r.backend_id = ${dir.backendId} AND r.dir_id = ${dir.id}`,
  );
  return rows.length ? rollupOf(rows[0], '', pendingState(rows[0])) : null;
}

/**
 * Deltas not yet folded that concern the directory row aliased `dir`: how many of the backend's first
 * PENDING_SCAN_LIMIT were scanned, and how many of those fall in its subtree.
 */
function pendingScan(dir: 'p' | 'n'): SQL {
  const d = sql.raw(dir);
  return sql`SELECT count(*) AS scanned, count(m.id) FILTER (WHERE ${d}.path = '' OR m.id = ${d}.id OR starts_with(m.path, ${d}.path || '/')) AS mine
             FROM (SELECT dir_id FROM rollup_deltas WHERE backend_id = ${d}.backend_id LIMIT ${PENDING_SCAN_LIMIT}) pd
             LEFT JOIN nodes m ON m.backend_id = ${d}.backend_id AND m.id = pd.dir_id AND m.state <> 'DELETED'`;
}

/** PENDING while deltas of the subtree wait (or too many wait to tell), else UP_TO_DATE. */
function pendingState(r: Row): 'PENDING' | 'UP_TO_DATE' {
  return int(r.mine) > 0 || int(r.scanned) >= PENDING_SCAN_LIMIT ? 'PENDING' : 'UP_TO_DATE';
}

/**
 * GetNode in one statement: the live node at `path` and, for a directory, its folded rollup with the
 * same PENDING/STALE rule as readRollup. `rollup` null: a file, or a directory without a row yet.
 */
export async function findLiveWithRollup(ex: Executor, backendId: number, path: string): Promise<LiveWithRollup | null> {
  const rows = await ex.rows(
    sql`SELECT ${LIVE_WITH_ROLLUP_COLUMNS}
        FROM nodes n ${ROLLUP_JOINS}
        WHERE n.backend_id = ${backendId} AND n.path = ${path} AND n.state <> 'DELETED'`,
  );
  return rows.length ? liveWithRollup(rows[0]) : null;
}

const LIVE_WITH_ROLLUP_COLUMNS = sql.raw(`n.*, r.dir_id AS r_dir_id, r.size_bytes AS r_size_bytes, r.file_count AS r_file_count,
  r.dir_count AS r_dir_count, r.stale AS r_stale, r.calculated_at AS r_calculated_at, w.scanned, w.mine`);
const ROLLUP_JOINS = sql`LEFT JOIN rollups r ON n.kind = 'DIRECTORY' AND r.backend_id = n.backend_id AND r.dir_id = n.id
        LEFT JOIN LATERAL (${pendingScan('n')} WHERE r.dir_id IS NOT NULL) w ON true`;

function liveWithRollup(r: Row): LiveWithRollup {
  const rollup = r.r_dir_id === null || r.r_dir_id === undefined ? null : rollupOf(r, 'r_', pendingState(r));
  return { node: toNode(r), rollup };
}

export interface LiveWithRollup {
  node: NodeRecord;
  rollup: RollupRecord | null;
}

/**
 * GetNode's statement, for several paths of one backend at once: the live node at each path and, for
 * a directory, its folded rollup with the same PENDING/STALE rule as readRollup (`rollup` null: a file,
 * or a directory without a row yet); null where no node is live.
 */
export async function findLiveWithRollups(ex: Executor, backendId: number, paths: string[]): Promise<(LiveWithRollup | null)[]> {
  const rows = await ex.rows(
    sql`SELECT q.i, ${LIVE_WITH_ROLLUP_COLUMNS}
        FROM jsonb_array_elements_text(${JSON.stringify(paths)}::jsonb) WITH ORDINALITY AS q(path, i)
        JOIN nodes n ON n.backend_id = ${backendId} AND n.path = q.path COLLATE "C" AND n.state <> 'DELETED'
        ${ROLLUP_JOINS}`,
  );
  const out: (LiveWithRollup | null)[] = paths.map(() => null);
  for (const r of rows) out[int(r.i) - 1] = liveWithRollup(r);
  return out;
}

/** Sums a directory's live subtree now (the rollup when recording is off, and the truth tests compare with). */
export async function sumSubtree(ex: Executor, dir: NodeRecord): Promise<RollupRecord> {
  const rows = await ex.rows(
    sql`SELECT coalesce(sum(size_bytes) FILTER (WHERE kind = 'FILE'), 0) AS size_bytes,
               count(*) FILTER (WHERE kind = 'FILE') AS file_count,
               count(*) FILTER (WHERE kind = 'DIRECTORY') AS dir_count
        FROM nodes WHERE backend_id = ${dir.backendId} AND path LIKE ${likePrefixPattern(dir.path)} AND path <> '' AND state <> 'DELETED'`,
  );
  return { ...rollupOf(rows[0], '', 'UP_TO_DATE'), calculatedAt: new Date() };
}

/** Marks every directory of a subtree STALE until its recompute runs. The caller holds the fold lock. */
export async function markStale(ex: Executor, root: NodeRecord): Promise<number> {
  const rows = await ex.rows(
    sql`UPDATE rollups r SET stale = true FROM nodes n
        WHERE r.backend_id = ${root.backendId} AND n.backend_id = ${root.backendId} AND n.id = r.dir_id AND n.state <> 'DELETED'
          AND (n.id = ${root.id} OR n.path LIKE ${likePrefixPattern(root.path)}) RETURNING r.dir_id`,
  );
  return rows.length;
}

/** Live directories marked STALE whose parent is not: each one's recompute covers the rest. */
export async function staleRoots(ex: Executor, backendId: number, limit: number): Promise<number[]> {
  const rows = await ex.rows(
    sql`SELECT n.id FROM rollups r JOIN nodes n ON n.backend_id = r.backend_id AND n.id = r.dir_id AND n.state <> 'DELETED'
        WHERE r.backend_id = ${backendId} AND r.stale
          AND NOT EXISTS (SELECT 1 FROM rollups pr WHERE pr.backend_id = r.backend_id AND pr.dir_id = n.parent_id AND pr.stale)
        LIMIT ${limit}`,
  );
  return rows.map((r) => int(r.id));
}

export interface RecomputeResult {
  dirs: number;
  /** Directories whose rollup was wrong (or not yet folded). */
  corrected: number;
  /** The shallowest of them, at most MAX_ROLLUP_EVENTS. */
  changedIds: number[];
}

/**
 * Recomputes every directory of a live subtree from its nodes in one statement (one snapshot): sets
 * the rows, removes the subtree's unfolded deltas (the snapshot includes their changes), and hands the
 * root's correction to its parent as a delta. The caller holds the backend's rollup lock.
 */
export async function recomputeSubtree(ex: Executor, root: NodeRecord): Promise<RecomputeResult> {
  const b = root.backendId;
  const rootDepth = root.path === '' ? 0 : root.path.split('/').length;
  const rows = await ex.rows(
    sql`WITH sub AS (
          SELECT id, parent_id, path, kind, size_bytes FROM nodes
          WHERE backend_id = ${b} AND state <> 'DELETED' AND (path = ${root.path} OR path LIKE ${likePrefixPattern(root.path)})),
        direct AS (
          SELECT parent_id AS dir_id, coalesce(sum(size_bytes) FILTER (WHERE kind = 'FILE'), 0) AS b,
                 count(*) FILTER (WHERE kind = 'FILE') AS f, count(*) FILTER (WHERE kind = 'DIRECTORY') AS d
          FROM sub WHERE id <> ${root.id} GROUP BY parent_id),
        dirs AS (
          SELECT s.id, s.path, coalesce(x.b, 0) AS b, coalesce(x.f, 0) AS f, coalesce(x.d, 0) AS d,
                 coalesce(array_length(string_to_array(s.path, '/'), 1), 0) AS depth
          FROM sub s LEFT JOIN direct x ON x.dir_id = s.id WHERE s.kind = 'DIRECTORY'),
        up AS (
          SELECT array_to_string((string_to_array(d.path, '/'))[1:j], '/') AS anc, d.b, d.f, d.d
          FROM dirs d, generate_series(${rootDepth}::int, d.depth) AS j),
        totals AS (SELECT anc, sum(b)::int8 AS b, sum(f)::int8 AS f, sum(d)::int8 AS d FROM up GROUP BY anc),
        tot AS (SELECT dirs.id, t.b, t.f, t.d FROM dirs JOIN totals t ON t.anc = dirs.path),
        old AS (SELECT r.dir_id, r.size_bytes, r.file_count, r.dir_count FROM rollups r JOIN tot ON r.backend_id = ${b} AND r.dir_id = tot.id),
        upd AS (
          INSERT INTO rollups AS r (backend_id, dir_id, size_bytes, file_count, dir_count, stale, calculated_at)
          SELECT ${b}, id, b, f, d, false, now() FROM tot
          ON CONFLICT (backend_id, dir_id) DO UPDATE SET size_bytes = excluded.size_bytes, file_count = excluded.file_count,
            dir_count = excluded.dir_count, stale = false, calculated_at = now()
          RETURNING dir_id),
        del AS (DELETE FROM rollup_deltas x USING dirs WHERE x.backend_id = ${b} AND x.dir_id = dirs.id),
        corr AS (
          ${INSERT_DELTAS}
          SELECT ${b}, ${root.parentId}::int8, tot.b - coalesce(old.size_bytes, 0), tot.f - coalesce(old.file_count, 0), tot.d - coalesce(old.dir_count, 0)
          FROM tot LEFT JOIN old ON old.dir_id = tot.id
          WHERE tot.id = ${root.id} AND ${root.parentId}::int8 IS NOT NULL
            AND (tot.b, tot.f, tot.d) IS DISTINCT FROM (old.size_bytes, old.file_count, old.dir_count)),
        changed AS (SELECT tot.id, dirs.depth FROM tot JOIN dirs ON dirs.id = tot.id LEFT JOIN old ON old.dir_id = tot.id
                    WHERE (tot.b, tot.f, tot.d) IS DISTINCT FROM (old.size_bytes, old.file_count, old.dir_count))
        SELECT (SELECT count(*) FROM upd) AS dirs, (SELECT count(*) FROM changed) AS corrected,
               coalesce((SELECT array_agg(id) FROM (SELECT id FROM changed ORDER BY depth LIMIT ${MAX_ROLLUP_EVENTS}) c), '{}') AS changed`,
  );
  const r = rows[0];
  const changed = Array.isArray(r.changed) ? r.changed : String(r.changed).replace(/[{}]/g, '').split(',').filter(Boolean);
  return { dirs: int(r.dirs), corrected: int(r.corrected), changedIds: changed.map(int) };
}

export interface RollupFreshness {
  backendId: number;
  pendingDeltas: number;
  oldestPendingSeconds: number;
  staleDirs: number;
}

/** For metrics: unfolded deltas and their age, and directories awaiting a recompute, per backend. */
export async function freshness(ex: Executor): Promise<RollupFreshness[]> {
  const rows = await ex.rows(
    sql`SELECT b.backend_id,
          (SELECT count(*) FROM rollup_deltas d WHERE d.backend_id = b.backend_id) AS pending,
          (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM rollup_deltas d WHERE d.backend_id = b.backend_id) AS oldest,
          (SELECT count(*) FROM rollups r JOIN nodes n ON n.backend_id = r.backend_id AND n.id = r.dir_id AND n.state <> 'DELETED'
           WHERE r.backend_id = b.backend_id AND r.stale) AS stale
        FROM backends b ORDER BY b.backend_id`,
  );
  return rows.map((r) => ({ backendId: int(r.backend_id), pendingDeltas: int(r.pending), oldestPendingSeconds: Number(r.oldest), staleDirs: int(r.stale) }));
}
