// The environment settings: their kinds and defaults, and the problems of a given environment
// (bad values, and FILESTORE_ names that are no setting, typos included).
import { z } from 'zod';
import { maskPassword } from './mask-url.js';
import { grpcAddress, integer, MAX_TIMER_MS, matching, oneOf, positiveNumber, text, url } from './setting-types.js';
import { closestName } from './suggest.js';

const NAME_LIKE = /^[A-Za-z0-9._-]{1,64}$/;
const NAME_LIKE_ACCEPTED = '1 to 64 letters, digits, ".", "_" or "-"';

export const DEFAULT_GRPC_ADDR = '127.0.0.1:50051';

const envSchema = z.object({
  FILESTORE_GRPC_ADDR: grpcAddress().default(DEFAULT_GRPC_ADDR),
  FILESTORE_DATA_DIR: text().default('./var'),
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'a postgres:// or postgresql:// URL').optional(),
  FILESTORE_DB_POOL_SIZE: integer(1, 500).default(16),
  FILESTORE_BACKENDS_PATH: text().optional(),
  FILESTORE_TOKENS: text().optional(),
  FILESTORE_TOKENS_PATH: text().optional(),
  FILESTORE_INSTANCE_ID: matching(NAME_LIKE, NAME_LIKE_ACCEPTED).optional(),
  FILESTORE_RECOVERY_INTERVAL_MS: integer(100, 30_000).default(10_000),
  FILESTORE_RECOVERY_GRACE_MS: integer(0, 60_000).default(10_000),
  FILESTORE_MAX_UPLOAD_BYTES: integer(1).default(64 * 1024 ** 3),
  FILESTORE_MAX_METADATA_BYTES: integer(1).default(64 * 1024),
  FILESTORE_READ_CHUNK_BYTES: integer(4096, 4 * 1024 * 1024).default(256 * 1024),
  FILESTORE_LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  FILESTORE_SHUTDOWN_GRACE_MS: integer(0, MAX_TIMER_MS).default(30_000),
  REDIS_URL: url(['redis:', 'rediss:'], 'a redis:// or rediss:// URL, or inline', ['inline']).optional(),
  FILESTORE_EVENTS_POLL_MS: integer(10, 60_000).default(250),
  FILESTORE_EVENTS_HEARTBEAT_MS: integer(100, 300_000).default(15_000),
  FILESTORE_EVENTS_RETENTION_HOURS: positiveNumber().default(7 * 24),
  FILESTORE_EVENTS_PRUNE_INTERVAL_MS: integer(1000, MAX_TIMER_MS).default(3_600_000),
  FILESTORE_EVENTS_MAX_QUEUE: integer(1, 100_000).default(1000),
  FILESTORE_EVENTS_DB_POOL_SIZE: integer(1, 100).default(4),
  FILESTORE_QUEUE_PREFIX: matching(NAME_LIKE, NAME_LIKE_ACCEPTED).default('filestore'),
  FILESTORE_WORKERS: oneOf(['on', 'off']).default('on'),
  FILESTORE_JOB_ATTEMPTS: integer(1, 100).default(5),
  FILESTORE_JOB_BACKOFF_MS: integer(1, MAX_TIMER_MS).default(1000),
  FILESTORE_JOB_STALLED_MS: integer(500, MAX_TIMER_MS).default(30_000),
  FILESTORE_ROLLUPS: oneOf(['on', 'off']).default('on'),
  FILESTORE_ROLLUP_FOLD_DELAY_MS: integer(0, 60_000).default(250),
  FILESTORE_ROLLUP_BATCH: integer(1, 1_000_000).default(10_000),
  FILESTORE_ROLLUP_SWEEP_MS: integer(100, MAX_TIMER_MS).default(30_000),
});

export type Env = z.infer<typeof envSchema>;

const PREFIX = 'FILESTORE_';
const SETTINGS = Object.keys(envSchema.shape).filter((name) => name.startsWith(PREFIX));
/** Read elsewhere, by the fault injection of the tests and by the bench. */
const HOOKS = ['FILESTORE_CRASH_AT'];
const HOOK_PREFIXES = ['FILESTORE_TEST_', 'FILESTORE_BENCH_'];
/** Secrets: a message names the variable without its value. */
const UNQUOTED = new Set(['FILESTORE_TOKENS']);
const MAX_SHOWN = 80;

function isKnown(name: string): boolean {
  return name in envSchema.shape || HOOKS.includes(name) || HOOK_PREFIXES.some((p) => name.startsWith(p));
}

function unknownSetting(name: string): string {
  const near = closestName(name.slice(PREFIX.length), SETTINGS.map((s) => s.slice(PREFIX.length)));
  return near
    ? `${name}: unknown setting; did you mean ${PREFIX}${near}?`
    : `${name}: unknown setting; the configuration table of the README lists the ${PREFIX} settings`;
}

function shown(name: string, value: string): string {
  const masked = name.endsWith('_URL') ? maskPassword(value) : value;
  return JSON.stringify(masked.length > MAX_SHOWN ? `${masked.slice(0, MAX_SHOWN)}…` : masked);
}

/** The settings that name files or hold the tokens: read even when other settings are bad, so that the files' problems are found too. */
const fileSettings = envSchema.pick({ FILESTORE_DATA_DIR: true, FILESTORE_BACKENDS_PATH: true, FILESTORE_TOKENS: true, FILESTORE_TOKENS_PATH: true });
export type FileSettings = z.infer<typeof fileSettings>;

export interface ReadEnv {
  /** null when a setting is bad. */
  values: Env | null;
  files: FileSettings;
  problems: string[];
}

/** The settings of `env` (an empty value counts as unset) and one problem per bad or unknown name. */
export function readEnv(env: NodeJS.ProcessEnv): ReadEnv {
  const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const problems = Object.keys(set)
    .filter((name) => name.startsWith(PREFIX) && !isKnown(name))
    .sort()
    .map(unknownSetting);
  const files = fileSettings.parse(set);
  const result = envSchema.safeParse(set);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = String(issue.path[0]);
      problems.push(UNQUOTED.has(name) ? `${name}: ${issue.message}` : `${name}: ${shown(name, String(set[name]))} is not ${issue.message}`);
    }
  }
  return { values: result.success && !problems.length ? result.data : null, files, problems };
}
