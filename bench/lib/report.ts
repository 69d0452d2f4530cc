// The printed tables and the JSON summary.
import type { DiskResult } from '../baselines/disk.js';
import type { EventsResult, Spread } from '../scenarios/events.js';
import type { PeakRss } from '../scenarios/peak-rss.js';
import type { ListingResult } from '../scenarios/listing.js';
import type { S3Result } from '../scenarios/s3.js';
import type { RollupsResult } from '../scenarios/rollups.js';
import type { StreamResult } from '../scenarios/streaming.js';
import type { LoopResult } from './closed-loop.js';
import type { Settings } from './env.js';
import type { CpuShare } from './proc.js';
import { listingReport } from './report-listing.js';
import { s3Report } from './report-s3.js';
import { rollupsReport } from './report-rollups.js';
import { fmtInt, fmtMiB, fmtMs, fmtPct, renderTable, round } from './table.js';
import { EVENT_DELIVERY_P99_MAX_MS, EVENT_WRITERS_KEEP, PEAK_RSS_MAX_MIB, TARGETS } from './targets.js';

const MiB = 1024 * 1024;
/** CPU used by other processes (not the target, the client or its database) above which a figure is flagged. */
export const NOISE_CORES = 0.25;

export interface Results {
  disk?: DiskResult;
  dbInserts: Map<number, LoopResult>;
  unary: { name: string; concurrency: number; dbBaseline: boolean; ours: LoopResult; twin: LoopResult }[];
  stream: { name: string; ours: StreamResult; twin: StreamResult; disk: number | undefined }[];
  rss?: { ours: PeakRss; twin: PeakRss };
  events?: EventsResult;
  rollups?: RollupsResult;
  listing?: ListingResult;
  s3?: S3Result;
}

export const key = (name: string, c?: number) => (c === undefined ? name : `${name} c=${c}`);

/** "server/client/db/other" CPU in cores, e.g. "0.97/0.99/0.40/0.02". */
export const fmtCpu = (cpu: CpuShare | undefined): string =>
  cpu ? [cpu.server, cpu.client, cpu.db, cpu.rest].map((n) => n.toFixed(2)).join('/') : '—';
const cpuJson = (cpu: CpuShare | undefined) =>
  cpu && {
    serverCores: round(cpu.server),
    clientCores: round(cpu.client),
    ...(cpu.helpers ? { clientHelperCores: round(cpu.helpers) } : {}),
    dbCores: round(cpu.db),
    otherCores: round(cpu.rest),
  };
const noisy = (...cpus: (CpuShare | undefined)[]) => cpus.some((c) => c && c.rest > NOISE_CORES);

export function describeLoop(r: LoopResult): string {
  const err = r.errors ? `, ${r.errors} errors (${r.firstError})` : '';
  const cpu = r.cpu ? `, cpu server/client/db/other ${fmtCpu(r.cpu)} cores` : '';
  return `${fmtInt(r.opsPerSec)} ops/s, p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms${cpu}${err}`;
}

function verdict(ratio: number, target: { min: number } | undefined): string {
  if (!target || !Number.isFinite(ratio)) return '';
  return ratio >= target.min ? 'met' : 'MISSED';
}

function loopJson(r: LoopResult) {
  return {
    concurrency: r.concurrency,
    opsPerSec: round(r.opsPerSec, 0),
    p50Ms: round(r.p50Ms, 3),
    p99Ms: round(r.p99Ms, 3),
    calls: r.calls,
    errors: r.errors,
    ...(r.firstError ? { firstError: r.firstError } : {}),
    ...(r.cpu ? { cpu: cpuJson(r.cpu) } : {}),
  };
}

export function report(results: Results, settings: Settings, meta: Record<string, unknown>): { text: string; json: Record<string, unknown> } {
  const dbLabel = settings.db === 'pg' ? 'pg INSERT' : 'PGlite INSERT';
  const out: string[] = [];
  const json: Record<string, unknown> = { meta };
  let flagged = false;

  // Baselines
  const baseRows: string[][] = [];
  for (const [c, r] of results.dbInserts) {
    baseRows.push([`${dbLabel} (single-row tx)`, `c=${c}`, `${fmtInt(r.opsPerSec)} tx/s`, fmtMs(r.p50Ms), fmtMs(r.p99Ms), r.errors ? String(r.errors) : '']);
  }
  if (results.disk) {
    const mib = results.disk.bytes / MiB;
    baseRows.push([`disk write ${mib} MiB + fsync`, '', `${fmtMiB(results.disk.writeMiBps)} MiB/s`, '', '', '']);
    baseRows.push([`disk read ${mib} MiB (page cache)`, '', `${fmtMiB(results.disk.readMiBps)} MiB/s`, '', '', '']);
  }
  if (baseRows.length) {
    out.push('Baselines (same run)', renderTable(['baseline', 'load', 'rate', 'p50 ms', 'p99 ms', 'errors'], baseRows, [false, false, true, true, true, true]), '');
  }
  json.baselines = {
    dbInserts: Object.fromEntries([...results.dbInserts].map(([c, r]) => [`c${c}`, loopJson(r)])),
    disk: results.disk && { bytes: results.disk.bytes, writeMiBps: round(results.disk.writeMiBps, 1), readMiBps: round(results.disk.readMiBps, 1) },
  };

  // Streaming (measured first, on the freshly started server)
  const streamRows: string[][] = [];
  const streamJson: unknown[] = [];
  for (const s of results.stream) {
    const ratio = s.ours.MiBps / s.twin.MiBps;
    const target = TARGETS[s.name];
    const flag = noisy(s.ours.cpu, s.twin.cpu);
    flagged ||= flag;
    streamRows.push([
      `${s.name} ${s.ours.bytes / MiB} MiB`,
      fmtMiB(s.ours.MiBps),
      fmtCpu(s.ours.cpu),
      fmtMiB(s.twin.MiBps),
      fmtCpu(s.twin.cpu),
      `${fmtPct(ratio)}${flag ? '*' : ''}`,
      target?.text ?? '',
      verdict(ratio, target),
      s.disk ? fmtPct(s.ours.MiBps / s.disk) : '',
      s.ours.runs.map(fmtMiB).join(' / '),
      s.twin.runs.map(fmtMiB).join(' / '),
    ]);
    streamJson.push({
      scenario: s.name,
      bytes: s.ours.bytes,
      chunkBytes: settings.chunkBytes,
      oursMiBps: round(s.ours.MiBps, 1),
      twinMiBps: round(s.twin.MiBps, 1),
      oursRuns: s.ours.runs.map((r) => round(r, 1)),
      twinRuns: s.twin.runs.map((r) => round(r, 1)),
      oursCpu: cpuJson(s.ours.cpu),
      twinCpu: cpuJson(s.twin.cpu),
      ratio: round(ratio, 3),
      target: target ? { min: target.min, met: ratio >= target.min } : null,
      vsDisk: s.disk ? round(s.ours.MiBps / s.disk, 3) : null,
      disturbed: flag,
    });
  }
  if (results.rss) {
    const { ours, twin } = results.rss;
    const met = ours.peakMiB <= PEAK_RSS_MAX_MIB;
    streamRows.push([
      `peak RSS (VmHWM${ours.reset ? ', streaming only' : ', since start'})`,
      `${fmtMiB(ours.peakMiB)} MiB`,
      '',
      `${fmtMiB(twin.peakMiB)} MiB`,
      '',
      fmtPct(ours.peakMiB / twin.peakMiB),
      `≤ ${PEAK_RSS_MAX_MIB} MiB`,
      met ? 'met' : 'MISSED',
      '',
      `RSS ${fmtMiB(ours.rssAtStartMiB)} MiB before`,
      `RSS ${fmtMiB(twin.rssAtStartMiB)} MiB before`,
    ]);
    json.peakRss = {
      oursMiB: round(ours.peakMiB, 1),
      twinMiB: round(twin.peakMiB, 1),
      oursRssBeforeMiB: round(ours.rssAtStartMiB, 1),
      twinRssBeforeMiB: round(twin.rssAtStartMiB, 1),
      streamingOnly: ours.reset && twin.reset,
      target: { maxMiB: PEAK_RSS_MAX_MIB, met },
    };
  }
  if (streamRows.length) out.push(
    `Streaming (${settings.chunkBytes / MiB} MiB chunks; median of ${settings.streamRuns} runs, twin and ours alternating, after a 32 MiB warm-up; on the freshly started server)`,
    renderTable(
      ['scenario', 'ours MiB/s', 'cpu s/c/db/x', 'twin MiB/s', 'cpu s/c/db/x', 'ours/twin', 'target', '', 'ours/disk', 'ours runs', 'twin runs'],
      streamRows,
      [false, true, true, true, true, true, false, false, true, false, false],
    ),
    '',
  );
  json.streaming = streamJson;

  // Unary
  const unaryRows: string[][] = [];
  const unaryJson: unknown[] = [];
  for (const u of results.unary) {
    const k = key(u.name, u.concurrency);
    const ratio = u.ours.opsPerSec / u.twin.opsPerSec;
    const target = TARGETS[k];
    const db = u.dbBaseline ? results.dbInserts.get(u.concurrency) : undefined;
    const errors = u.ours.errors + u.twin.errors;
    const flag = noisy(u.ours.cpu, u.twin.cpu);
    flagged ||= flag;
    unaryRows.push([
      k,
      fmtInt(u.ours.opsPerSec),
      fmtMs(u.ours.p50Ms),
      fmtMs(u.ours.p99Ms),
      fmtCpu(u.ours.cpu),
      fmtInt(u.twin.opsPerSec),
      fmtMs(u.twin.p50Ms),
      fmtMs(u.twin.p99Ms),
      fmtCpu(u.twin.cpu),
      `${fmtPct(ratio)}${flag ? '*' : ''}`,
      target?.text ?? '',
      verdict(ratio, target),
      db ? fmtPct(u.ours.opsPerSec / db.opsPerSec) : '',
      errors ? String(errors) : '',
    ]);
    unaryJson.push({
      scenario: k,
      ours: loopJson(u.ours),
      twin: loopJson(u.twin),
      ratio: round(ratio, 3),
      target: target ? { min: target.min, met: ratio >= target.min } : null,
      vsDbInsert: db ? round(u.ours.opsPerSec / db.opsPerSec, 3) : null,
      disturbed: flag,
    });
  }
  if (unaryRows.length) out.push(
    `Unary, closed loop (each client one call at a time; ${settings.seconds} s after ${settings.warmupSeconds} s warm-up); server on ${settings.db === 'pg' ? 'PostgreSQL' : 'PGlite'}`,
    renderTable(
      ['scenario', 'ours ops/s', 'p50 ms', 'p99 ms', 'cpu s/c/db/x', 'twin ops/s', 'p50 ms', 'p99 ms', 'cpu s/c/db/x', 'ours/twin', 'target', '', `ours/${dbLabel}`, 'errors'],
      unaryRows,
      [false, true, true, true, true, true, true, true, true, true, false, false, true, true],
    ),
    '',
  );
  json.unary = unaryJson;

  if (results.events) {
    const { text, json: eventsJson, flag } = eventsReport(results.events, settings);
    out.push(text, '');
    json.events = eventsJson;
    flagged ||= flag;
  }

  if (results.rollups) {
    const { text, json: rollupsJson, flag } = rollupsReport(results.rollups, settings, fmtCpu, noisy, loopJson);
    out.push(text, '');
    json.rollups = rollupsJson;
    flagged ||= flag;
  }

  if (results.listing) {
    const { text, json: listingJson } = listingReport(results.listing);
    out.push(text, '');
    json.listing = listingJson;
  }

  if (results.s3) {
    const { text, json: s3Json } = s3Report(results.s3, fmtCpu);
    out.push(text, '');
    json.s3 = s3Json;
  }

  out.push(
    'cpu s/c/db/x: cores used over the measured window by the target server / the client (the bench process) / the PostgreSQL backends of',
    "the server's database / everything else on the machine (PostgreSQL's shared processes, other processes).",
  );
  if (results.events) out.push("In the events tables the client includes the subscriber process (its share is the 'subs' column).");
  if (flagged) out.push(`* other processes used more than ${NOISE_CORES} cores during this point: the machine was not quiet, so the ratio is disturbed.`);
  return { text: out.join('\n'), json };
}

const spreadJson = (x: Spread) => ({ p50Ms: round(x.p50Ms, 3), p99Ms: round(x.p99Ms, 3), maxMs: round(x.maxMs, 3) });

/** The events section: delivery latency under an open-loop load, and the writers' rate with subscribers attached. */
function eventsReport(e: EventsResult, settings: Settings): { text: string; json: Record<string, unknown>; flag: boolean } {
  const d = e.delivery;
  const w = e.writers;
  const latencyMet = d.afterResponse.p99Ms <= EVENT_DELIVERY_P99_MAX_MS && d.delivered === d.expected;
  const keepMet = w.ratio >= EVENT_WRITERS_KEEP.min;
  const flag = noisy(d.cpu, w.with.cpu, ...w.without.map((r) => r.cpu));
  const subs = (cpu: CpuShare | undefined) => (cpu?.helpers !== undefined ? cpu.helpers.toFixed(2) : '—');

  const deliveryRows = [
    [
      'arrival − response',
      fmtMs(d.afterResponse.p50Ms),
      fmtMs(d.afterResponse.p99Ms),
      fmtMs(d.afterResponse.maxMs),
      `≤ ${EVENT_DELIVERY_P99_MAX_MS} ms`,
      `${latencyMet ? 'met' : 'MISSED'}${flag ? '*' : ''}`,
    ],
    ['arrival − send', fmtMs(d.afterSend.p50Ms), fmtMs(d.afterSend.p99Ms), fmtMs(d.afterSend.maxMs), '', ''],
    ['CreateDirectory send → response', fmtMs(d.writer.p50Ms), fmtMs(d.writer.p99Ms), fmtMs(d.writer.maxMs), '', ''],
  ];
  const load =
    `${fmtInt(d.commandsPerSec)} CreateDirectory/s answered (${fmtInt(d.eventsPerSec)} events/s) of ${fmtInt(d.targetCommandsPerSec)}/s sent open-loop for ${d.seconds.toFixed(1)} s` +
    `${d.dirsPerCommand > 1 ? `, ${d.dirsPerCommand} directories each` : ''}; ` +
    `${fmtInt(d.delivered)} of ${fmtInt(d.expected)} (command, subscriber) completions received` +
    `${d.beforeResponse ? `, ${fmtInt(d.beforeResponse)} before the response` : ''}` +
    `${d.errors ? `; ${d.errors} errors (${d.firstError})` : ''}${d.skipped ? `; ${d.skipped} not sent (too many in flight)` : ''}; ` +
    `cpu s/c/db/x ${fmtCpu(d.cpu)}, subs ${subs(d.cpu)}`;

  const writerRow = (label: string, r: LoopResult, ratio: string, target: string, verdictText: string) => [
    label,
    fmtInt(r.opsPerSec),
    fmtMs(r.p50Ms),
    fmtMs(r.p99Ms),
    fmtCpu(r.cpu),
    subs(r.cpu),
    ratio,
    target,
    verdictText,
    r.errors ? String(r.errors) : '',
  ];
  const writerRows = [
    ...w.without.map((r, i) => writerRow(`no subscribers (${i === 0 ? 'before' : 'after'})`, r, '', '', '')),
    writerRow(`${w.subscribers} subscribers reading`, w.with, `${fmtPct(w.ratio)}${flag ? '*' : ''}`, EVENT_WRITERS_KEEP.text, keepMet ? 'met' : 'MISSED'),
  ];

  const kept = d.commandsPerSec / d.targetCommandsPerSec;
  const behind =
    kept < 0.95
      ? `The server answered ${fmtPct(kept)} of the offered load: it could not keep up, so these latencies are mostly queueing (requests waiting in the server), not delivery.`
      : '';
  const text = [
    `Events: delivery of filestore.command.completed to ${d.subscribers} subscribers (a separate process, all event types), ms; ${load}`,
    renderTable(['latency', 'p50 ms', 'p99 ms', 'max ms', 'target', ''], deliveryRows, [false, true, true, true, false, false]),
    ...(behind ? [behind] : []),
    '',
    `Events: CreateDirectory c=${w.with.concurrency}, closed loop, with and without ${w.subscribers} subscribers (${settings.seconds} s after ${settings.warmupSeconds} s warm-up)`,
    renderTable(
      ['writers', 'ops/s', 'p50 ms', 'p99 ms', 'cpu s/c/db/x', 'subs', 'kept', 'target', '', 'errors'],
      writerRows,
      [false, true, true, true, true, true, true, false, false, true],
    ),
  ].join('\n');

  const json = {
    delivery: {
      subscribers: d.subscribers,
      targetCommandsPerSec: d.targetCommandsPerSec,
      dirsPerCommand: d.dirsPerCommand,
      commandsPerSec: round(d.commandsPerSec, 1),
      eventsPerSec: round(d.eventsPerSec, 1),
      seconds: round(d.seconds, 2),
      sent: d.sent,
      ok: d.ok,
      errors: d.errors,
      ...(d.firstError ? { firstError: d.firstError } : {}),
      skipped: d.skipped,
      expected: d.expected,
      delivered: d.delivered,
      beforeResponse: d.beforeResponse,
      afterResponse: spreadJson(d.afterResponse),
      afterSend: spreadJson(d.afterSend),
      writer: spreadJson(d.writer),
      perSubscriberP99Ms: d.perSubscriberP99Ms.map((x) => round(x, 3)),
      cpu: cpuJson(d.cpu),
      keptUp: round(kept, 3),
      target: { p99MaxMs: EVENT_DELIVERY_P99_MAX_MS, on: 'afterResponse', met: latencyMet },
    },
    writers: {
      subscribers: w.subscribers,
      without: w.without.map(loopJson),
      with: loopJson(w.with),
      ratio: round(w.ratio, 3),
      target: { min: EVENT_WRITERS_KEEP.min, met: keepMet },
    },
    disturbed: flag,
  };
  return { text, json, flag };
}
