// Composition root. Start order: port → database (and, embedded, its lock) → lease → events → jobs
// → backends → recovery → serving. The port is taken first and nothing is served until recovery ran,
// so that a process that cannot start changes nothing and no call races the start-up recovery.
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { Authenticator } from './auth/authenticator.js';
import { openBackend } from './backends/factory.js';
import { crashPoint } from './commands/crash-points.js';
import { JournalIds } from './commands/journal-ids.js';
import { startRecoveryLoop, logReport, type RecoveryLoop } from './commands/recovery-loop.js';
import { recover } from './commands/recovery.js';
import { settleStuckIntents } from './commands/journalled.js';
import { BackendRegistry, type CommitListener, type Services } from './commands/services.js';
import { StuckIntents } from './commands/stuck-intents.js';
import type { Config } from './config/config.js';
import { parseGrpcAddress } from './config/grpc-address.js';
import { upsertBackend } from './db/backends-repo.js';
import type { LockPurpose } from './db/data-dir-lock.js';
import { connectPglite, connectPostgres, type Database } from './db/database.js';
import { ensureRoot } from './db/nodes-repo.js';
import { startEvents } from './events/index.js';
import { startJobs, type JobsRuntime } from './jobs/runtime.js';
import { Lease } from './lease/lease.js';
import type { RollupNotifier } from './rollups/scheduler.js';
import type { HandlerContext } from './server/call.js';
import { ServingGate } from './server/gate.js';
import { startGrpcServer, type RunningServer } from './server/grpc-server.js';

export interface App {
  services: Services;
  jobs: JobsRuntime;
  server: RunningServer;
  lease: Lease;
  recovery: RecoveryLoop;
  port: number;
  log: Logger;
  /** Resolves (with the problem) if this process must stop: its fixed instance id went to another process. */
  lost: Promise<string>;
  stop(graceMs?: number): Promise<void>;
}

/** `purpose` names this process in the embedded database's lock (for whoever it refuses). */
export async function openDatabase(config: Config, purpose: LockPurpose): Promise<Database> {
  return config.databaseUrl
    ? connectPostgres(config.databaseUrl, config.dbPoolSize)
    : connectPglite(path.join(config.dataDir, 'pglite'), purpose);
}

export async function openServices(config: Config, db: Database, instanceId: string, commits: CommitListener, rollups: RollupNotifier): Promise<Services> {
  const entries = [];
  for (const b of config.backends) {
    const backend = await openBackend(b, instanceId, { crashPoint });
    await upsertBackend(db, { id: b.id, name: b.name, kind: b.kind, location: backend.location, config: {} });
    await ensureRoot(db, b.id);
    entries.push({ id: b.id, name: b.name, readOnly: b.readOnly, backend });
  }
  return {
    db,
    commits,
    rollups,
    backends: new BackendRegistry(entries),
    instanceId,
    inFlight: new Set(),
    journalIds: new JournalIds(db),
    stuckIntents: new StuckIntents(),
    limits: { maxUploadBytes: config.maxUploadBytes, maxMetadataBytes: config.maxMetadataBytes, readChunkBytes: config.readChunkBytes },
  };
}

/** Resources opened so far, closed in reverse order when start-up fails half-way. */
class Opened {
  private readonly closers: (() => Promise<unknown>)[] = [];
  add<T>(value: T, close: (v: T) => Promise<unknown>): T {
    this.closers.push(() => close(value));
    return value;
  }
  async closeAll(): Promise<void> {
    for (const close of this.closers.reverse()) await close().catch(() => {});
  }
}

export async function startApp(config: Config, log: Logger = pino({ level: config.logLevel })): Promise<App> {
  // loadConfig validated the address and refused a non-loopback one without tokens.
  const { host } = parseGrpcAddress(config.grpcAddr)!;
  const ctx = { auth: new Authenticator(config.tokens), gate: new ServingGate(), log } as HandlerContext;
  const server = await startGrpcServer(ctx, config.grpcAddr);
  const opened = new Opened();
  opened.add(server, (s) => s.drain(0));
  try {
    const db = opened.add(await openDatabase(config, { role: 'server', address: `${host}:${server.port}` }), (d) => d.close());
    const lease = opened.add(
      await Lease.acquire(db, {
        requestedId: config.instanceId,
        port: server.port,
        addr: `${host}:${server.port}`,
        databaseUrl: config.databaseUrl,
        graceMs: config.recovery.graceMs,
        log,
      }),
      (l) => l.close(),
    );
    // Event readers get connections of their own, so that under a write load they do not queue behind commands.
    const eventsDb = config.databaseUrl ? opened.add(await connectPostgres(config.databaseUrl, config.events.dbPoolSize, false), (d) => d.close()) : db;
    const events = opened.add(await startEvents(eventsDb, config.events, config.redisUrl, config.backends.map((b) => b.id), log), (e) => e.close());
    const jobs = opened.add(await startJobs(config, db, events.hub, log, config.jobs.runWorkers), (j) => j.close());
    const services = await openServices(config, db, lease.id, events.hub, jobs.scheduler);
    ctx.svc = services;
    ctx.events = events.service;

    const afterRecovery = () => {
      services.commits.committed(0n); // recovery wrote events: wake the hub
      for (const b of config.backends) jobs.scheduler.foldSoon(b.id); // what recovery rolled forward
    };
    const report = await recover(services, lease, { startup: true });
    logReport(log, report, 'recovered commands left in flight by a previous run');
    if (report.resolved.length) afterRecovery();
    const recovery = opened.add(startRecoveryLoop(services, lease, config.recovery.intervalMs, log, afterRecovery), (r) => r.stop());

    let stopping: Promise<void> | undefined;
    const lost = new Promise<string>((resolve) => lease.onFatal(resolve));
    lease.onChange((healthy) => {
      if (!stopping) server.setState(healthy ? 'serving' : 'database-down');
    });
    server.setState(lease.isHealthy ? 'serving' : 'database-down');
    const queues = config.redisUrl ? 'bullmq' : 'inline';
    log.info(
      { addr: config.grpcAddr, port: server.port, database: db.kind, events: config.redisUrl ? 'redis' : 'in-process', queues, workers: config.jobs.runWorkers, instance: lease.id },
      'filestore serving',
    );
    return {
      services,
      jobs,
      server,
      lease,
      recovery,
      port: server.port,
      log,
      lost,
      stop(graceMs = config.shutdownGraceMs) {
        // Once: a second call (a signal during shutdown, a test's teardown) waits for the first.
        stopping ??= (async () => {
          await events.close(); // ends subscriptions (UNAVAILABLE: resume elsewhere), which would hold the drain
          await server.drain(graceMs);
          await recovery.stop();
          await jobs.close();
          if (eventsDb !== db) await eventsDb.close();
          const leftovers = await closeOwnAreas(services);
          await lease.close(leftovers);
          await db.close();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await opened.closeAll();
    throw err;
  }
}

/**
 * After a drain nothing of this process is in flight: its intents are done (those a database outage
 * left stuck get one more try) and its staging is empty, so its areas go with it. True when some
 * are left: another process's recovery resolves them.
 */
async function closeOwnAreas(svc: Services): Promise<boolean> {
  await settleStuckIntents(svc, true);
  // A command still running after a forced drain may yet write an intent: its row must stay.
  let leftovers = svc.stuckIntents.size > 0 || svc.inFlight.size > 0;
  for (const { backend } of svc.backends.list()) {
    if (!(await backend.closeIntents().catch(() => false))) leftovers = true;
    await backend.removeStagingArea(svc.instanceId).catch(() => {});
    if ((await backend.listStaging(svc.instanceId).catch(() => [])).length > 0) leftovers = true;
  }
  return leftovers;
}
