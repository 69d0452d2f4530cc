// The rollups section of the report: writers with rollups off and on, and the recompute of a large tree.
import type { LoopResult } from './closed-loop.js';
import type { RollupsResult } from '../scenarios/rollups.js';
import type { WritersRun } from '../scenarios/rollups-writers.js';
import type { Settings } from './env.js';
import type { CpuShare } from './proc.js';
import { fmtInt, fmtMiB, fmtMs, fmtPct, renderTable, round } from './table.js';
import { ROLLUP_WRITERS_KEEP } from './targets.js';

export function rollupsReport(
  r: RollupsResult,
  settings: Settings,
  fmtCpu: (c: CpuShare | undefined) => string,
  noisy: (...c: (CpuShare | undefined)[]) => boolean,
  loopJson: (l: LoopResult) => unknown,
): { text: string; json: Record<string, unknown>; flag: boolean } {
  let flag = false;
  const rows: string[][] = [];
  const runRow = (pair: number, w: WritersRun, ratio: string, verdict: string) => [
    `pair ${pair}: rollups ${w.rollups}`,
    fmtInt(w.loop.opsPerSec),
    fmtMs(w.loop.p50Ms),
    fmtMs(w.loop.p99Ms),
    fmtCpu(w.loop.cpu),
    ratio,
    w.rollups === 'on' ? ROLLUP_WRITERS_KEEP.text : '',
    verdict,
    fmtInt(w.filesWritten),
    w.rollups === 'on' ? fmtInt(w.deltasAtStop) : '',
    w.rollups === 'on' ? (w.settleMs === null || w.settleMs === undefined ? 'no' : fmtMs(w.settleMs)) : '',
    `${fmtInt(w.root.fileCount)} / ${w.root.dirCount} ${w.root.state}`,
    w.exact ? 'yes' : 'no',
    w.loop.errors ? String(w.loop.errors) : '',
  ];
  r.writers.forEach((p, i) => {
    const f = noisy(p.off.loop.cpu, p.on.loop.cpu);
    flag ||= f;
    rows.push(runRow(i + 1, p.off, '', ''));
    rows.push(runRow(i + 1, p.on, `${fmtPct(p.ratio)}${f ? '*' : ''}`, p.ratio >= ROLLUP_WRITERS_KEEP.min ? 'met' : 'MISSED'));
  });
  const dirs = r.writers[0]?.on.expected.dirCount;

  const c = r.recompute;
  const rc = [
    ['nodes loaded (SQL, metadata only: no file on disk)', `${fmtInt(c.nodes)} (${fmtInt(c.dirs)} dirs + ${fmtInt(c.files)} files, ${c.tree.top}×${c.tree.sub}×${c.tree.files})`],
    ['load time (INSERT … generate_series, one tx, + ANALYZE)', `${(c.loadMs / 1000).toFixed(2)} s`],
    ['recompute time (enqueue → root rollups row counts the files)', c.recomputeMs === null ? 'not done (timeout)' : `${(c.recomputeMs / 1000).toFixed(2)} s`],
    ...(c.serverReport ? [['  as the server logged it ("rollups recomputed")', `${(c.serverReport.ms / 1000).toFixed(2)} s, ${fmtInt(c.serverReport.dirs)} dirs, ${fmtInt(c.serverReport.corrected)} corrected`]] : []),
    ['root rollup after (GetNode)', `${fmtInt(c.root.fileCount)} files, ${fmtInt(c.root.dirCount)} dirs, ${fmtInt(c.root.sizeBytes)} bytes, ${c.root.state}`],
    ['rollups exact', c.exact ? 'yes' : 'no'],
    [`server RSS before (sampled every ${c.rss.everyMs} ms)`, `${fmtMiB(c.rssBaselineMiB)} MiB`],
    ['server RSS peak during recompute', `${fmtMiB(c.rss.peakMiB)} MiB sampled (${c.rss.samples} samples), VmHWM ${fmtMiB(c.rss.hwmMiB)} MiB${c.rss.reset ? '' : ' (since start)'}`],
    ['baseline SQL: whole-tree count + sum', `${(c.baseline.totalsMs / 1000).toFixed(2)} s`],
    ['baseline SQL: per-directory sums (GROUP BY parent_id)', `${(c.baseline.perDirMs / 1000).toFixed(2)} s`],
    ['recompute / per-directory SQL', c.recomputeMs === null ? '—' : `${(c.recomputeMs / c.baseline.perDirMs).toFixed(1)}×`],
  ];

  const text = [
    `Rollups: no root hot spot — WriteFile 4 KiB, 16 clients each in its own subtree w<i>/a/b/, closed loop (${settings.seconds} s after ${settings.warmupSeconds} s warm-up);` +
      ' each run a fresh server + PostgreSQL database, BullMQ in Redis, workers in-process; off/on alternate',
    renderTable(
      ['run', 'ops/s', 'p50 ms', 'p99 ms', 'cpu s/c/db/x', 'on/off', 'target', '', 'files', 'deltas at stop', 'settle ms', `root files / dirs (expect ${dirs})`, 'exact', 'errors'],
      rows,
      [false, true, true, true, true, true, false, false, true, true, true, false, false, true],
    ),
    '',
    'Rollups: full recompute of a bulk-loaded tree (rollups.recompute of "" on backend 1, enqueued into the server\'s BullMQ queue)',
    renderTable(['figure', 'value'], rc, [false, false]),
  ].join('\n');

  const runJson = (w: WritersRun) => ({
    rollups: w.rollups,
    loop: loopJson(w.loop),
    filesWritten: w.filesWritten,
    ...(w.rollups === 'on' ? { deltasAtStop: w.deltasAtStop, settleMs: w.settleMs == null ? null : round(w.settleMs, 1) } : {}),
    root: w.root,
    expected: w.expected,
    exact: w.exact,
  });
  const json = {
    redisPrefix: r.redisPrefix,
    writers: r.writers.map((p) => ({
      off: runJson(p.off),
      on: runJson(p.on),
      ratio: round(p.ratio, 3),
      target: { min: ROLLUP_WRITERS_KEEP.min, met: p.ratio >= ROLLUP_WRITERS_KEEP.min },
      disturbed: noisy(p.off.loop.cpu, p.on.loop.cpu),
    })),
    recompute: {
      tree: c.tree,
      nodes: c.nodes,
      dirs: c.dirs,
      files: c.files,
      filesOnDisk: false,
      loadMs: round(c.loadMs, 0),
      recomputeMs: c.recomputeMs === null ? null : round(c.recomputeMs, 0),
      ...(c.serverReport ? { serverReport: { ...c.serverReport, ms: round(c.serverReport.ms, 0) } } : {}),
      root: c.root,
      exact: c.exact,
      rss: { beforeMiB: round(c.rssBaselineMiB, 1), peakMiB: round(c.rss.peakMiB, 1), hwmMiB: round(c.rss.hwmMiB, 1), samples: c.rss.samples, everyMs: c.rss.everyMs },
      baselineSql: { totalsMs: round(c.baseline.totalsMs, 0), perDirMs: round(c.baseline.perDirMs, 0) },
    },
    disturbed: flag,
  };
  return { text, json, flag };
}
