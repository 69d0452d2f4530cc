// Composition root: configuration → database → events → jobs → backends → recovery → gRPC server.
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { Authenticator } from './auth/authenticator.js';
import { LocalBackend } from './backends/local.js';
import { recover } from './commands/recovery.js';
import { BackendRegistry, type CommitListener, type Services } from './commands/services.js';
import type { Config } from './config/config.js';
import { newInstanceId } from './config/instance-id.js';
import { upsertBackend } from './db/backends-repo.js';
import { connectPglite, connectPostgres, type Database } from './db/database.js';
import { ensureRoot } from './db/nodes-repo.js';
import { startEvents } from './events/index.js';
import { startJobs, type JobsRuntime } from './jobs/runtime.js';
import type { RollupNotifier } from './rollups/scheduler.js';
import { isLoopback, splitAddress, startGrpcServer, type RunningServer } from './server/grpc-server.js';

export interface App {
  services: Services;
  jobs: JobsRuntime;
  server: RunningServer;
  port: number;
  log: Logger;
  stop(graceMs?: number): Promise<void>;
}

export async function openDatabase(config: Config): Promise<Database> {
  return config.databaseUrl
    ? connectPostgres(config.databaseUrl, config.dbPoolSize)
    : connectPglite(path.join(config.dataDir, 'pglite'));
}

export async function openServices(config: Config, db: Database, commits: CommitListener, rollups: RollupNotifier): Promise<Services> {
  const instanceId = config.instanceId ?? newInstanceId(0);
  const entries = [];
  for (const b of config.backends) {
    const backend = new LocalBackend({ id: b.id, root: b.root, instanceId });
    await backend.open();
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
    limits: { maxUploadBytes: config.maxUploadBytes, maxMetadataBytes: config.maxMetadataBytes, readChunkBytes: config.readChunkBytes },
  };
}

export async function startApp(config: Config, log: Logger = pino({ level: config.logLevel })): Promise<App> {
  const { host } = splitAddress(config.grpcAddr);
  if (!isLoopback(host) && config.tokens.size === 0) {
    throw new Error(`refusing to serve on ${config.grpcAddr} without authentication: set FILESTORE_TOKENS or bind a loopback address`);
  }
  const db = await openDatabase(config);
  // Event readers get connections of their own, so that under a write load they do not queue behind commands.
  const eventsDb = config.databaseUrl ? await connectPostgres(config.databaseUrl, config.events.dbPoolSize, false).catch(async (err) => {
    await db.close();
    throw err;
  }) : db;
  const events = await startEvents(eventsDb, config.events, config.redisUrl, config.backends.map((b) => b.id), log);
  let started: JobsRuntime | undefined;
  try {
    const jobs = (started = await startJobs(config, db, events.hub, log, config.jobs.runWorkers));
    const services = await openServices(config, db, events.hub, jobs.scheduler);
    const report = await recover(services);
    if (report.resolved.length || report.stagingRemoved) log.warn(report, 'recovered commands left in flight by a previous run');
    if (report.resolved.length) for (const b of config.backends) jobs.scheduler.foldSoon(b.id); // what recovery rolled forward
    if (report.unresolved.length) log.error({ unresolved: report.unresolved }, 'some commands left in flight could not be resolved; they stay PENDING');
    const server = await startGrpcServer({ svc: services, events: events.service, auth: new Authenticator(config.tokens), log }, config.grpcAddr);
    const queues = config.redisUrl ? 'bullmq' : 'inline';
    let stopping: Promise<void> | undefined;
    log.info(
      { addr: config.grpcAddr, port: server.port, database: db.kind, events: config.redisUrl ? 'redis' : 'in-process', queues, workers: config.jobs.runWorkers, instance: services.instanceId },
      'filestore serving',
    );
    return {
      services,
      jobs,
      server,
      port: server.port,
      log,
      stop(graceMs = config.shutdownGraceMs) {
        // Once: a second call (a signal during shutdown, a test's teardown) waits for the first.
        stopping ??= (async () => {
          await events.close(); // ends subscriptions (UNAVAILABLE: resume elsewhere), which would hold the drain
          await server.drain(graceMs);
          await jobs.close();
          if (eventsDb !== db) await eventsDb.close();
          await db.close();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await started?.close().catch(() => {});
    await events.close().catch(() => {});
    if (eventsDb !== db) await eventsDb.close().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }
}
