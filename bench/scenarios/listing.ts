// Listing at scale (FILESTORE_BENCH_ONLY=listing): a server of its own on a fresh PostgreSQL database,
// with a tree bulk-loaded by SQL (metadata only): a directory of 10,000 files, and the rollups
// section's t<i>/s<j>/f<k>.bin tree (~1,000,000 nodes). Measured: ListChildren of the 10,000 entries
// (every page, at the largest page size), and WalkTree of the whole backend, with the server's RSS.
// Yardstick: the same statements through a plain pg client on the same database, in the same run.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { MAX_PAGE_SIZE } from '../../src/commands/page-token.js';
import { BACKEND_ID } from '../lib/client.js';
import { loadTree, loadWideDirectory } from '../lib/bulk-tree.js';
import type { Settings } from '../lib/env.js';
import { rootId, startDbServer } from '../lib/rollup-server.js';
import { sampleRss, type RssWindow } from '../lib/rss-sampler.js';

const WIDE = 10_000;
const RUNS = 5;
const WALK_BATCH = 1_000;

export interface ListingResult {
  wide: { entries: number; pages: number; ms: number; runsMs: number[]; sqlMs: number };
  walk: { nodes: number; messages: number; ms: number; perSec: number; sqlPerSec: number; rss: RssWindow };
  loadMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

/** The walk's statement, page after page, through plain pg: what the database alone delivers. */
async function sqlWalk(db: pg.Client): Promise<number> {
  let after = '';
  let rows = 0;
  for (;;) {
    const page = await db.query<{ path: string }>({
      name: 'bench_walk',
      text: `SELECT * FROM nodes WHERE backend_id = $1 AND state <> 'DELETED' AND path > $2 ORDER BY path LIMIT $3`,
      values: [BACKEND_ID, after, WALK_BATCH],
    });
    rows += page.rows.length;
    if (page.rows.length < WALK_BATCH) return rows;
    after = page.rows[page.rows.length - 1].path;
  }
}

export async function listingScenario(settings: Settings, dataDir: string, log: (m: string) => void): Promise<ListingResult> {
  if (settings.db !== 'pg') throw new Error('the listing section needs PostgreSQL (it runs without FILESTORE_BENCH_DB=pglite)');
  const s = await startDbServer(settings, dataDir, 'listing');
  try {
    const root = await rootId(s.db);
    const tree = settings.rollupTree;
    log(`  loading a directory of ${WIDE.toLocaleString('en-US')} files and a ${tree.top}×${tree.sub}×${tree.files} tree with SQL`);
    const [, loadMs] = await timed(async () => {
      await loadWideDirectory(s.db, root, 'wide', WIDE);
      await loadTree(s.db, root, tree);
    });

    const listAll = async () => {
      let entries = 0;
      let pages = 0;
      let pageToken = '';
      do {
        const page = await s.client.listChildren({ backendId: BACKEND_ID, path: 'wide', nodeId: 0, pageSize: MAX_PAGE_SIZE, pageToken });
        entries += page.nodes.length;
        pages++;
        pageToken = page.nextPageToken;
      } while (pageToken);
      return { entries, pages };
    };
    await listAll(); // warm: statements prepared, pages cached
    const runs: { entries: number; pages: number; ms: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const [r, ms] = await timed(listAll);
      runs.push({ ...r, ms });
    }
    const { rows: wideRow } = await s.db.query<{ id: string }>(`SELECT id FROM nodes WHERE backend_id = 1 AND path = 'wide' AND state <> 'DELETED'`);
    const sqlRuns: number[] = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const [, ms] = await timed(() =>
        s.db.query({
          name: 'bench_children',
          text: `SELECT * FROM nodes WHERE backend_id = $1 AND parent_id = $2 AND state <> 'DELETED' ORDER BY name LIMIT $3`,
          values: [BACKEND_ID, wideRow[0].id, MAX_PAGE_SIZE + 1],
        }),
      );
      if (i > 0) sqlRuns.push(ms);
    }
    const wide = { entries: runs[0].entries, pages: runs[0].pages, ms: median(runs.map((r) => r.ms)), runsMs: runs.map((r) => r.ms), sqlMs: median(sqlRuns) };
    log(`  ListChildren of ${wide.entries} entries in ${wide.pages} page(s): median ${wide.ms.toFixed(0)} ms (plain SQL ${wide.sqlMs.toFixed(0)} ms)`);

    const [sqlRows, sqlMs] = await timed(() => sqlWalk(s.db));
    const stopRss = sampleRss(s.served.pid, 50);
    const [walked, ms] = await timed(() => s.client.walk({ backendId: BACKEND_ID, path: '', nodeId: 0, resumeToken: '', maxDepth: 0, batchSize: WALK_BATCH }));
    const rss = stopRss();
    const walk = { ...walked, ms, perSec: (walked.nodes / ms) * 1000, sqlPerSec: (sqlRows / sqlMs) * 1000, rss };
    log(
      `  WalkTree of ${walked.nodes.toLocaleString('en-US')} nodes in ${walked.messages} messages: ${(ms / 1000).toFixed(2)} s, ` +
        `${Math.round(walk.perSec).toLocaleString('en-US')} nodes/s (plain SQL ${Math.round(walk.sqlPerSec).toLocaleString('en-US')} rows/s); ` +
        `server RSS ${rss.startMiB.toFixed(0)} → peak ${rss.peakMiB.toFixed(0)} MiB`,
    );
    return { wide, walk, loadMs };
  } finally {
    await s.stop();
  }
}
