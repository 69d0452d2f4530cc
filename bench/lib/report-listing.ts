// The listing section of the report: ListChildren of 10,000 entries and WalkTree of the whole tree.
import type { ListingResult } from '../scenarios/listing.js';
import { fmtInt, fmtMiB, fmtMs, renderTable, round } from './table.js';
import { LIST_CHILDREN_10K_MAX_MS, PEAK_RSS_MAX_MIB, WALK_TREE_MIN_PER_SEC } from './targets.js';

export function listingReport(r: ListingResult): { text: string; json: Record<string, unknown> } {
  const childrenMet = r.wide.ms <= LIST_CHILDREN_10K_MAX_MS;
  const walkMet = r.walk.perSec >= WALK_TREE_MIN_PER_SEC && r.walk.rss.peakMiB <= PEAK_RSS_MAX_MIB;
  const rows = [
    [
      `ListChildren ${fmtInt(r.wide.entries)} entries (${r.wide.pages} page${r.wide.pages === 1 ? '' : 's'})`,
      `${fmtMs(r.wide.ms)} ms`,
      `${fmtMs(r.wide.sqlMs)} ms`,
      `≤ ${LIST_CHILDREN_10K_MAX_MS} ms`,
      childrenMet ? 'met' : 'MISSED',
      '',
    ],
    [
      `WalkTree ${fmtInt(r.walk.nodes)} nodes (${fmtInt(r.walk.messages)} messages)`,
      `${fmtInt(r.walk.perSec)} nodes/s`,
      `${fmtInt(r.walk.sqlPerSec)} rows/s`,
      `≥ ${fmtInt(WALK_TREE_MIN_PER_SEC)}/s, RSS ≤ ${PEAK_RSS_MAX_MIB} MiB`,
      walkMet ? 'met' : 'MISSED',
      `${fmtMiB(r.walk.rss.startMiB)} → ${fmtMiB(r.walk.rss.peakMiB)}`,
    ],
  ];
  const text = [
    `Listing (a server of its own on PostgreSQL; tree loaded with SQL in ${(r.loadMs / 1000).toFixed(1)} s; baseline: the same statements through plain pg)`,
    renderTable(['scenario', 'ours', 'plain SQL', 'target', '', 'server RSS MiB'], rows, [false, true, true, false, false, true]),
  ].join('\n');
  const json = {
    listChildren: { entries: r.wide.entries, pages: r.wide.pages, ms: round(r.wide.ms, 1), runsMs: r.wide.runsMs.map((x) => round(x, 1)), sqlMs: round(r.wide.sqlMs, 1), met: childrenMet },
    walkTree: {
      nodes: r.walk.nodes,
      messages: r.walk.messages,
      ms: round(r.walk.ms, 0),
      perSec: round(r.walk.perSec, 0),
      sqlPerSec: round(r.walk.sqlPerSec, 0),
      rssStartMiB: round(r.walk.rss.startMiB, 1),
      rssPeakMiB: round(r.walk.rss.peakMiB, 1),
      met: walkMet,
    },
  };
  return { text, json };
}
