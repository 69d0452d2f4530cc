// One typed configuration, defaults in one place, validated at start. Every problem found is
// reported at once (the environment's, then the files'), each naming its setting: see env.ts,
// backends-file.ts and tokens.ts.
import path from 'node:path';
import { StartupError } from '../errors/startup-error.js';
import { defaultBackend, readBackendsFile, type BackendConfig } from './backends-file.js';
import { readEnv, type Env } from './env.js';
import { isLoopback, parseGrpcAddress } from './grpc-address.js';
import { readTokens } from './tokens.js';

export type { BackendConfig } from './backends-file.js';

export interface Config {
  grpcAddr: string;
  dataDir: string;
  databaseUrl: string | null;
  dbPoolSize: number;
  backends: BackendConfig[];
  /** token → principal; empty means authentication is off (loopback only). */
  tokens: Map<string, string>;
  /** Set by FILESTORE_INSTANCE_ID; null: the process makes a unique one at each start. */
  instanceId: string | null;
  recovery: RecoveryConfig;
  maxUploadBytes: number;
  maxMetadataBytes: number;
  readChunkBytes: number;
  logLevel: string;
  shutdownGraceMs: number;
  /** null: events fan out in-process only (one instance). */
  redisUrl: string | null;
  events: EventsConfig;
  jobs: JobsConfig;
  rollups: RollupsConfig;
}

export interface JobsConfig {
  /** Redis key prefix of the BullMQ queues. */
  prefix: string;
  /** false: this process runs no workers (API only; run `filestore worker` elsewhere). */
  runWorkers: boolean;
  attempts: number;
  backoffMs: number;
  /** How long a job taken by a worker that died stays taken before another worker runs it (BullMQ). */
  stalledMs: number;
}

export interface RecoveryConfig {
  /** How often a process looks for commands left PENDING by dead processes (and its own stuck ones). */
  intervalMs: number;
  /** After (re)taking its lease, how long a process waits before it judges other processes dead. */
  graceMs: number;
}

export interface RollupsConfig {
  enabled: boolean;
  foldDelayMs: number;
  batchSize: number;
  sweepMs: number;
}

export interface EventsConfig {
  pollIntervalMs: number;
  heartbeatMs: number;
  retentionMs: number;
  pruneIntervalMs: number;
  maxQueue: number;
  /** PostgreSQL connections of the event readers, apart from the commands' pool. */
  dbPoolSize: number;
}

/** 'inline': no Redis; jobs and events stay in this process (as when REDIS_URL is unset). */
const sharedRedisUrl = (e: Env) => (e.REDIS_URL && e.REDIS_URL !== 'inline' ? e.REDIS_URL : null);

/** Problems of settings that are fine alone but do not work together. */
function combinationProblems(e: Env, tokenCount: number): string[] {
  const problems: string[] = [];
  if (e.FILESTORE_WORKERS === 'off' && !sharedRedisUrl(e)) {
    problems.push("FILESTORE_WORKERS=off needs REDIS_URL: without a shared queue no other process can run this server's jobs");
  }
  const { host } = parseGrpcAddress(e.FILESTORE_GRPC_ADDR)!;
  if (!isLoopback(host) && tokenCount === 0) {
    problems.push(
      `FILESTORE_GRPC_ADDR: ${host} is not a loopback address, and serving it without authentication is refused; set FILESTORE_TOKENS or FILESTORE_TOKENS_PATH, or bind 127.0.0.1`,
    );
  }
  return problems;
}

/** The configuration of `env`; throws one StartupError listing every problem found. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { values: e, files, problems } = readEnv(env);
  const dataDir = path.resolve(files.FILESTORE_DATA_DIR);
  const tokens = readTokens(files.FILESTORE_TOKENS, files.FILESTORE_TOKENS_PATH);
  problems.push(...tokens.inlineProblems);
  // Whether tokens are set is known only once the tokens file could be read.
  if (e && !tokens.inlineProblems.length && !tokens.fileProblems.length) problems.push(...combinationProblems(e, tokens.tokens.size));
  const backends = files.FILESTORE_BACKENDS_PATH ? readBackendsFile(files.FILESTORE_BACKENDS_PATH) : { backends: [defaultBackend(dataDir)], problems: [] };
  problems.push(...backends.problems, ...tokens.fileProblems);
  if (!e || problems.length) throw new StartupError(problems);
  return {
    grpcAddr: e.FILESTORE_GRPC_ADDR,
    dataDir,
    databaseUrl: e.DATABASE_URL ?? null,
    dbPoolSize: e.FILESTORE_DB_POOL_SIZE,
    backends: backends.backends,
    tokens: tokens.tokens,
    instanceId: e.FILESTORE_INSTANCE_ID ?? null,
    recovery: { intervalMs: e.FILESTORE_RECOVERY_INTERVAL_MS, graceMs: e.FILESTORE_RECOVERY_GRACE_MS },
    maxUploadBytes: e.FILESTORE_MAX_UPLOAD_BYTES,
    maxMetadataBytes: e.FILESTORE_MAX_METADATA_BYTES,
    readChunkBytes: e.FILESTORE_READ_CHUNK_BYTES,
    logLevel: e.FILESTORE_LOG_LEVEL,
    shutdownGraceMs: e.FILESTORE_SHUTDOWN_GRACE_MS,
    redisUrl: sharedRedisUrl(e),
    events: {
      pollIntervalMs: e.FILESTORE_EVENTS_POLL_MS,
      heartbeatMs: e.FILESTORE_EVENTS_HEARTBEAT_MS,
      retentionMs: e.FILESTORE_EVENTS_RETENTION_HOURS * 3_600_000,
      pruneIntervalMs: e.FILESTORE_EVENTS_PRUNE_INTERVAL_MS,
      maxQueue: e.FILESTORE_EVENTS_MAX_QUEUE,
      dbPoolSize: e.FILESTORE_EVENTS_DB_POOL_SIZE,
    },
    jobs: {
      prefix: e.FILESTORE_QUEUE_PREFIX,
      runWorkers: e.FILESTORE_WORKERS === 'on',
      attempts: e.FILESTORE_JOB_ATTEMPTS,
      backoffMs: e.FILESTORE_JOB_BACKOFF_MS,
      stalledMs: e.FILESTORE_JOB_STALLED_MS,
    },
    rollups: {
      enabled: e.FILESTORE_ROLLUPS === 'on',
      foldDelayMs: e.FILESTORE_ROLLUP_FOLD_DELAY_MS,
      batchSize: e.FILESTORE_ROLLUP_BATCH,
      sweepMs: e.FILESTORE_ROLLUP_SWEEP_MS,
    },
  };
}
