// `npm run bench`: the targets of docs/architecture.md#performance-targets measured as ratios against
// baselines taken in the same run.
//
//   baselines  raw disk write+fsync / read in the server's data dir; single-row INSERT tx/s
//              (PostgreSQL, or PGlite with FILESTORE_BENCH_DB=pglite); a no-op grpc-js twin of
//              FileStoreService in its own process (bench/twin/server.ts)
//   scenarios  against the real server (`node dist/src/main.js`, a child process, on a
//              fresh database): a large upload and download in 1 MiB chunks with the server's
//              peak RSS (first, on the fresh server), then closed-loop CreateDirectory, GetNode
//              and 4 KiB WriteFile; then events: delivery latency to 10 subscribers under an open-loop
//              load, and CreateDirectory c=16 with and without them (the real server only);
//              last, rollups, on servers of its own with BullMQ in Redis: 16 writers in 16 subtrees with
//              rollups off and on (twice), and a full recompute of a bulk-loaded 1,000,100-node tree;
//              listing, on a server of its own: ListChildren of 10,000 entries, WalkTree of ~1,010,000 nodes;
//              s3, on a server of its own on an S3 backend (s3rver): upload and download against the raw SDK
//
// Every point runs against the twin and the real server with the same client, back to back.
// Prints the tables, then one line of JSON. Env: FILESTORE_BENCH_SECONDS (per point, default 5),
// FILESTORE_BENCH_DB=pglite, FILESTORE_BENCH_STREAM_MIB (256), FILESTORE_BENCH_STREAM_RUNS (3),
// FILESTORE_BENCH_ONLY (streaming,unary,events,rollups,listing,s3: a subset to run), FILESTORE_BENCH_REDIS_URL,
// FILESTORE_BENCH_ROLLUP_TREE (top,sub,files),
// TEST_DATABASE_URL (admin connection, default postgres://postgres@127.0.0.1:5432/test).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { diskBaseline } from './baselines/disk.js';
import { pgInsertBaseline, pgliteInsertBaseline } from './baselines/pg-insert.js';
import { BenchClient } from './lib/client.js';
import { cleanupAll, defer, installSignalHandlers, wasInterrupted } from './lib/cleanup.js';
import type { LoopResult } from './lib/closed-loop.js';
import { createDatabase, serverVersion } from './lib/databases.js';
import { SECTIONS, settings } from './lib/env.js';
import { serve } from './lib/proc.js';
import { realServer } from './lib/server.js';
import { describeLoop, fmtCpu, key, report, type Results } from './lib/report.js';
import { fmtMiB, round } from './lib/table.js';
import type { Ctx, Target, TargetKind } from './scenarios/common.js';
import { createDirectoryPoint } from './scenarios/create-directory.js';
import { downloadTransfer } from './scenarios/download.js';
import { eventsScenario } from './scenarios/events.js';
import { getDirectoryPoint, getNodePoint } from './scenarios/get-node.js';
import { listingScenario } from './scenarios/listing.js';
import { rollupsScenario } from './scenarios/rollups.js';
import { s3Scenario } from './scenarios/s3.js';
import { startPeakWindow } from './scenarios/peak-rss.js';
import { interleaved, type Transfer } from './scenarios/streaming.js';
import { uploadTransfer } from './scenarios/upload.js';
import { writeSmallPoint } from './scenarios/write-small.js';

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const MiB = 1024 * 1024;

type UnaryPoint = { name: string; concurrency: number; dbBaseline: boolean; run: (ctx: Ctx, c: number) => Promise<LoopResult> };
const UNARY: UnaryPoint[] = [
  { name: 'CreateDirectory', concurrency: 1, dbBaseline: true, run: createDirectoryPoint },
  { name: 'CreateDirectory', concurrency: 16, dbBaseline: true, run: createDirectoryPoint },
  { name: 'GetNode', concurrency: 1, dbBaseline: false, run: getNodePoint },
  { name: 'GetNode', concurrency: 16, dbBaseline: false, run: getNodePoint },
  { name: 'GetNode', concurrency: 64, dbBaseline: false, run: getNodePoint },
  { name: 'GetNode directory', concurrency: 64, dbBaseline: false, run: getDirectoryPoint },
  { name: 'WriteFile 4 KiB', concurrency: 1, dbBaseline: true, run: writeSmallPoint },
  { name: 'WriteFile 4 KiB', concurrency: 16, dbBaseline: true, run: writeSmallPoint },
];
const DB_CONCURRENCIES = [...new Set(UNARY.filter((p) => p.dbBaseline).map((p) => p.concurrency))];

const twinServer = () =>
  serve('twin', 'bench/twin/server.ts', { TWIN_ADDR: '127.0.0.1:0', TWIN_CHUNK_BYTES: String(settings.chunkBytes) }, /"twin":"serving","port":(\d+)/);

async function measure(dataDir: string, results: Results): Promise<void> {
  const only = settings.only;
  if (only.has('streaming')) {
    log(`· disk baseline: ${settings.streamBytes / MiB} MiB in ${dataDir}`);
    results.disk = await diskBaseline(dataDir, settings.streamBytes, settings.chunkBytes);
    log(`  write+fsync ${fmtMiB(results.disk.writeMiBps)} MiB/s, read ${fmtMiB(results.disk.readMiBps)} MiB/s`);
  }
  if (only.has('unary')) {
    log(`· ${settings.db === 'pg' ? 'PostgreSQL' : 'PGlite'} single-row INSERT baseline at c=${DB_CONCURRENCIES.join(', ')}`);
    results.dbInserts = await (settings.db === 'pg' ? pgInsertBaseline : pgliteInsertBaseline)(settings, DB_CONCURRENCIES);
    for (const [c, r] of results.dbInserts) log(`  c=${c}: ${describeLoop(r)}`);
  }

  if (only.has('streaming') || only.has('unary') || only.has('events')) await mainServer(dataDir, results);
  // Last, with servers of its own (rollups off and on, Redis), once the main server is gone.
  if (only.has('rollups') && settings.db !== 'pg') log('· rollups skipped: it needs PostgreSQL (FILESTORE_BENCH_DB=pglite)');
  else if (only.has('rollups')) {
    log('· rollups (servers of its own)');
    results.rollups = await rollupsScenario(settings, dataDir, log);
  }
  if (only.has('s3')) {
    log('· S3 (a server of its own on an S3 backend, s3rver in a child process)');
    results.s3 = await s3Scenario(settings, dataDir, log);
  }
  if (only.has('listing') && settings.db !== 'pg') log('· listing skipped: it needs PostgreSQL (FILESTORE_BENCH_DB=pglite)');
  else if (only.has('listing')) {
    log('· listing (a server of its own)');
    results.listing = await listingScenario(settings, dataDir, log);
  }
}

async function mainServer(dataDir: string, results: Results): Promise<void> {
  const only = settings.only;
  const withTwin = only.has('streaming') || only.has('unary');
  const serverDb = settings.db === 'pg' ? await createDatabase(settings.adminUrl, 'server') : null;
  const twin = withTwin ? await twinServer() : null;
  const ours = await realServer(dataDir, serverDb?.url ?? null);
  log(`· ${twin ? `twin pid ${twin.pid} at ${twin.address}; ` : ''}server pid ${ours.pid} at ${ours.address} (${settings.db}${serverDb ? ` ${serverDb.name}` : ''})`);
  const oursTarget: Target = { kind: 'ours', client: new BenchClient(ours.address), pid: ours.pid, database: serverDb?.name };
  const twinTarget: Target | null = twin && { kind: 'twin', client: new BenchClient(twin.address), pid: twin.pid };
  const closeClients = defer('close clients', async () => [oursTarget, twinTarget].forEach((t) => t?.client.close()));
  const oursCtx: Ctx = { target: oursTarget, settings };

  if (twin && twinTarget) {
    const ctxs: Record<TargetKind, Ctx> = { twin: { target: twinTarget, settings }, ours: oursCtx };
    if (only.has('streaming')) {
      // Streaming first, while the server is fresh, so that its peak RSS is about streaming.
      const windows = { twin: startPeakWindow(twin.pid), ours: startPeakWindow(ours.pid) };
      const streams: { name: string; make: (ctx: Ctx) => Transfer; disk: number }[] = [
        { name: 'WriteFile upload', make: uploadTransfer, disk: results.disk!.writeMiBps },
        { name: 'ReadFile download', make: downloadTransfer, disk: results.disk!.readMiBps },
      ];
      for (const s of streams) {
        const r = await interleaved(ctxs, s.make, settings.streamRuns);
        for (const k of ['twin', 'ours'] as const) {
          log(`· ${s.name} ${settings.streamBytes / MiB} MiB  ${k}: ${fmtMiB(r[k].MiBps)} MiB/s (runs ${r[k].runs.map(fmtMiB).join(', ')}), cpu ${fmtCpu(r[k].cpu)}`);
        }
        results.stream.push({ name: s.name, twin: r.twin, ours: r.ours, disk: s.disk });
      }
      results.rss = { twin: windows.twin(), ours: windows.ours() };
      log(`· peak RSS while streaming: server ${fmtMiB(results.rss.ours.peakMiB)} MiB, twin ${fmtMiB(results.rss.twin.peakMiB)} MiB`);
    }

    if (only.has('unary')) {
      for (const p of UNARY) {
        const twinResult = await p.run(ctxs.twin, p.concurrency);
        log(`· ${key(p.name, p.concurrency)}  twin: ${describeLoop(twinResult)}`);
        const oursResult = await p.run(ctxs.ours, p.concurrency);
        log(`  ${' '.repeat(key(p.name, p.concurrency).length)}  ours: ${describeLoop(oursResult)}`);
        results.unary.push({ name: p.name, concurrency: p.concurrency, dbBaseline: p.dbBaseline, twin: twinResult, ours: oursResult });
      }
    }
  }

  // Last on this server: the subscribers it attaches stay out of the other points.
  if (only.has('events')) {
    log('· events (real server only)');
    results.events = await eventsScenario(oursCtx, log);
  }

  await closeClients();
  await ours.stop();
  await twin?.stop();
  await serverDb?.drop();
}

async function main(): Promise<number> {
  installSignalHandlers();
  const started = performance.now();
  const cpus = os.cpus();
  const meta: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim(),
    database: settings.db,
    secondsPerPoint: settings.seconds,
    warmupSeconds: settings.warmupSeconds,
    streamBytes: settings.streamBytes,
    chunkBytes: settings.chunkBytes,
    streamRuns: settings.streamRuns,
    sections: [...settings.only],
    loadAvgAtStart: os.loadavg().map((l) => round(l)),
  };
  if (settings.db === 'pg') meta.postgres = await serverVersion(settings.adminUrl);
  log(
    `Filestore bench: ${meta.cpus} × ${meta.cpuModel}, Node ${meta.node}, database ${settings.db}` +
      `${meta.postgres ? ` (PostgreSQL ${meta.postgres})` : ''}, ${settings.seconds} s per point`,
  );

  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'filestore-bench-'));
  defer(`remove ${dataDir}`, () => rm(dataDir, { recursive: true, force: true }));
  meta.dataDir = dataDir;

  const results: Results = { dbInserts: new Map(), unary: [], stream: [] };
  await measure(dataDir, results);
  await cleanupAll();
  meta.totalSeconds = round((performance.now() - started) / 1000, 1);
  meta.loadAvgAtEnd = os.loadavg().map((l) => round(l));

  const { text, json } = report(results, settings, meta);
  const ev = results.events;
  const eventErrors = ev ? ev.delivery.errors + ev.writers.with.errors + ev.writers.without.reduce((n, r) => n + r.errors, 0) : 0;
  const rollupErrors = results.rollups?.writers.reduce((n, p) => n + p.off.loop.errors + p.on.loop.errors, 0) ?? 0;
  const errors =
    results.unary.reduce((n, u) => n + u.ours.errors + u.twin.errors, 0) + [...results.dbInserts.values()].reduce((n, r) => n + r.errors, 0) + eventErrors + rollupErrors;
  const load = meta.loadAvgAtStart as number[];
  console.log('');
  console.log(
    `Filestore bench — ${meta.cpus} × ${meta.cpuModel}, Node ${meta.node}, ` +
      `${settings.db === 'pg' ? `PostgreSQL ${meta.postgres}` : 'PGlite'}, ${meta.totalSeconds} s in total`,
  );
  if (settings.only.size < SECTIONS.length) console.log(`only ${[...settings.only].join(', ')} (FILESTORE_BENCH_ONLY)`);
  console.log('ours = the real server (child process); twin = no-op grpc-js FileStoreService from our generated code (child process); same client for both.');
  console.log(`load average at start ${load.join(' ')}${load[0] > 0.5 ? ' (the machine was not idle)' : ''}\n`);
  console.log(text);
  if (errors) console.log(`\n${errors} calls failed: the figures above are not trustworthy (see "errors" and the JSON).`);
  console.log('');
  console.log(JSON.stringify({ ...json, errors }));
  return errors ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  if (!wasInterrupted()) process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
} finally {
  await cleanupAll();
}
process.exit(code);
