// One typed configuration, defaults in one place, validated at start.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';

const backendSchema = z.object({
  id: z.number().int().positive(),
  name: z.string().min(1),
  kind: z.literal('local'),
  root: z.string().min(1),
  readOnly: z.boolean().default(false),
  /** Create the root when it is missing (otherwise a missing root, e.g. an unmounted volume, is refused). */
  create: z.boolean().default(false),
});
export type BackendConfig = z.infer<typeof backendSchema>;

const backendsFileSchema = z.object({ backends: z.array(backendSchema).min(1) });
const tokensFileSchema = z.object({ tokens: z.array(z.object({ principal: z.string().min(1), token: z.string().min(16) })) });

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

const envSchema = z.object({
  FILESTORE_GRPC_ADDR: z.string().default('127.0.0.1:50051'),
  FILESTORE_DATA_DIR: z.string().default('./var'),
  DATABASE_URL: z.string().optional(),
  FILESTORE_DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(16),
  FILESTORE_BACKENDS_PATH: z.string().optional(),
  FILESTORE_TOKENS: z.string().optional(),
  FILESTORE_TOKENS_PATH: z.string().optional(),
  FILESTORE_INSTANCE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  FILESTORE_RECOVERY_INTERVAL_MS: z.coerce.number().int().min(100).max(30_000).default(10_000),
  FILESTORE_RECOVERY_GRACE_MS: z.coerce.number().int().min(0).max(60_000).default(10_000),
  FILESTORE_MAX_UPLOAD_BYTES: z.coerce.number().int().positive().default(64 * 1024 ** 3),
  FILESTORE_MAX_METADATA_BYTES: z.coerce.number().int().positive().default(64 * 1024),
  FILESTORE_READ_CHUNK_BYTES: z.coerce.number().int().min(4096).max(4 * 1024 * 1024).default(256 * 1024),
  FILESTORE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  FILESTORE_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  REDIS_URL: z.string().optional(),
  FILESTORE_EVENTS_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(250),
  FILESTORE_EVENTS_HEARTBEAT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
  FILESTORE_EVENTS_RETENTION_HOURS: z.coerce.number().positive().default(7 * 24),
  FILESTORE_EVENTS_PRUNE_INTERVAL_MS: z.coerce.number().int().min(1000).default(3_600_000),
  FILESTORE_EVENTS_MAX_QUEUE: z.coerce.number().int().min(1).max(100_000).default(1000),
  FILESTORE_EVENTS_DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(4),
  FILESTORE_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).default('filestore'),
  FILESTORE_WORKERS: z.enum(['on', 'off']).default('on'),
  FILESTORE_JOB_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  FILESTORE_JOB_BACKOFF_MS: z.coerce.number().int().min(1).default(1000),
  FILESTORE_JOB_STALLED_MS: z.coerce.number().int().min(500).default(30_000),
  FILESTORE_ROLLUPS: z.enum(['on', 'off']).default('on'),
  FILESTORE_ROLLUP_FOLD_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(250),
  FILESTORE_ROLLUP_BATCH: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  FILESTORE_ROLLUP_SWEEP_MS: z.coerce.number().int().min(100).default(30_000),
});

function parseFile(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
}

function parseTokens(inline: string | undefined, file: string | undefined): Map<string, string> {
  const tokens = new Map<string, string>();
  for (const pair of (inline ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const at = pair.indexOf(':');
    if (at <= 0 || at === pair.length - 1) throw new Error(`FILESTORE_TOKENS: "${pair.slice(0, 20)}…" is not principal:token`);
    tokens.set(pair.slice(at + 1), pair.slice(0, at));
  }
  if (file) for (const t of tokensFileSchema.parse(parseFile(file)).tokens) tokens.set(t.token, t.principal);
  return tokens;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = envSchema.parse(env);
  const dataDir = path.resolve(e.FILESTORE_DATA_DIR);
  const backends = e.FILESTORE_BACKENDS_PATH
    ? backendsFileSchema.parse(parseFile(e.FILESTORE_BACKENDS_PATH)).backends
    : [{ id: 1, name: 'default', kind: 'local' as const, root: path.join(dataDir, 'data'), readOnly: false, create: true }];
  const ids = new Set(backends.map((b) => b.id));
  if (ids.size !== backends.length) throw new Error('backends: ids must be unique');
  const redisUrl = e.REDIS_URL && e.REDIS_URL !== 'inline' ? e.REDIS_URL : null;
  if (e.FILESTORE_WORKERS === 'off' && !redisUrl) {
    throw new Error('FILESTORE_WORKERS=off needs REDIS_URL: without a shared queue no other process can run this server\'s jobs');
  }
  return {
    grpcAddr: e.FILESTORE_GRPC_ADDR,
    dataDir,
    databaseUrl: e.DATABASE_URL || null,
    dbPoolSize: e.FILESTORE_DB_POOL_SIZE,
    backends: backends.map((b) => ({ ...b, root: path.resolve(b.root) })),
    tokens: parseTokens(e.FILESTORE_TOKENS, e.FILESTORE_TOKENS_PATH),
    instanceId: e.FILESTORE_INSTANCE_ID ?? null,
    recovery: { intervalMs: e.FILESTORE_RECOVERY_INTERVAL_MS, graceMs: e.FILESTORE_RECOVERY_GRACE_MS },
    maxUploadBytes: e.FILESTORE_MAX_UPLOAD_BYTES,
    maxMetadataBytes: e.FILESTORE_MAX_METADATA_BYTES,
    readChunkBytes: e.FILESTORE_READ_CHUNK_BYTES,
    logLevel: e.FILESTORE_LOG_LEVEL,
    shutdownGraceMs: e.FILESTORE_SHUTDOWN_GRACE_MS,
    // 'inline': no Redis; jobs and events stay in this process (as when REDIS_URL is unset).
    redisUrl,
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
