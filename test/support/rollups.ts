// Rollups in tests: wait for the queue to drain, and compare every directory's folded rollup with
// a recomputation from the live nodes.
import { sql } from 'drizzle-orm';
import type { Database } from '../../src/db/database.js';
import type { JobQueue } from '../../src/jobs/queue.js';

/** Waits until no fold is queued or running and no delta is left unfolded. */
export async function rollupsSettled(queue: JobQueue, db: Database, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await queue.drained(Math.max(1, deadline - Date.now()));
    const [{ n }] = await db.rows<{ n: string }>(sql`SELECT count(*) AS n FROM rollup_deltas`);
    if (Number(n) === 0) {
      await queue.drained(Math.max(1, deadline - Date.now()));
      return;
    }
    if (Date.now() > deadline) throw new Error(`rollups did not settle in ${timeoutMs} ms: ${n} deltas unfolded`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface RollupMismatch {
  path: string;
  folded: [number, number, number] | null;
  truth: [number, number, number];
}

/** Every live directory whose rollup row differs from the sums over its live subtree (empty: all exact). */
export async function rollupMismatches(db: Database, backendId = 1): Promise<RollupMismatch[]> {
  const rows = await db.rows<Record<string, string | null>>(
    sql`SELECT d.path, r.size_bytes AS rb, r.file_count AS rf, r.dir_count AS rd, t.tb, t.tf, t.td
        FROM nodes d
        LEFT JOIN rollups r ON r.backend_id = d.backend_id AND r.dir_id = d.id
        CROSS JOIN LATERAL (
          SELECT coalesce(sum(n.size_bytes) FILTER (WHERE n.kind = 'FILE'), 0) AS tb,
                 count(*) FILTER (WHERE n.kind = 'FILE') AS tf, count(*) FILTER (WHERE n.kind = 'DIRECTORY') AS td
          FROM nodes n WHERE n.backend_id = d.backend_id AND n.state <> 'DELETED' AND n.path <> ''
            AND (d.path = '' OR starts_with(n.path, d.path || '/'))) t
        WHERE d.backend_id = ${backendId} AND d.kind = 'DIRECTORY' AND d.state <> 'DELETED'
        ORDER BY d.path`,
  );
  const out: RollupMismatch[] = [];
  for (const r of rows) {
    const folded: [number, number, number] | null = r.rb === null ? null : [Number(r.rb), Number(r.rf), Number(r.rd)];
    const truth: [number, number, number] = [Number(r.tb), Number(r.tf), Number(r.td)];
    if (!folded || folded.some((v, i) => v !== truth[i])) out.push({ path: r.path as string, folded, truth });
  }
  return out;
}
