// Canonical metadata. Every table carries backend_id and every primary, unique and foreign key includes
// it, so the schema can be distributed by backend_id (docs/architecture.md#modes).
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgSequence,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/** Byte-order text, so that listings are stable and LIKE 'prefix/%' can use a btree index. */
const cText = customType<{ data: string }>({ dataType: () => 'text COLLATE "C"' });

const int8 = (name: string) => bigint(name, { mode: 'number' });
const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const nodeIdSeq = pgSequence('node_id_seq');

export const backends = pgTable('backends', {
  backendId: int8('backend_id').primaryKey(),
  name: text('name').notNull(),
  kind: text('kind').notNull(),
  location: text('location').notNull(),
  config: jsonb('config').notNull().default({}),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

export const nodes = pgTable(
  'nodes',
  {
    backendId: int8('backend_id').notNull(),
    id: int8('id').notNull().default(sql`nextval('node_id_seq')`),
    parentId: int8('parent_id'),
    path: cText('path').notNull(),
    name: cText('name').notNull(),
    kind: text('kind').notNull(),
    state: text('state').notNull().default('ACTIVE'),
    version: int8('version').notNull().default(1),
    sizeBytes: int8('size_bytes').notNull().default(0),
    sha256: text('sha256'),
    metadata: jsonb('metadata').notNull().default({}),
    createdAt: tstz('created_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    deletedAt: tstz('deleted_at'),
  },
  (t) => [
    primaryKey({ columns: [t.backendId, t.id] }),
    uniqueIndex('nodes_live_path_uq').on(t.backendId, t.path).where(sql`state <> 'DELETED'`),
    index('nodes_children_idx').on(t.backendId, t.parentId, t.name).where(sql`state <> 'DELETED'`),
    index('nodes_id_idx').on(t.id),
  ],
);

export const snapshots = pgTable(
  'snapshots',
  {
    backendId: int8('backend_id').notNull(),
    nodeId: int8('node_id').notNull(),
    version: int8('version').notNull(),
    path: cText('path').notNull(),
    kind: text('kind').notNull(),
    state: text('state').notNull(),
    sizeBytes: int8('size_bytes').notNull(),
    sha256: text('sha256'),
    metadata: jsonb('metadata').notNull(),
    journalId: int8('journal_id'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.backendId, t.nodeId, t.version] })],
);

export const journalEntries = pgTable(
  'journal_entries',
  {
    backendId: int8('backend_id').notNull(),
    id: bigserial('id', { mode: 'number' }).notNull(),
    command: text('command').notNull(),
    status: text('status').notNull(),
    principal: text('principal').notNull(),
    idempotencyKey: text('idempotency_key'),
    /** False once the command failed, so that the key may be used again. */
    idempotencyActive: boolean('idempotency_active').notNull().default(true),
    paramsHash: text('params_hash').notNull(),
    params: jsonb('params').notNull(),
    /** What crash recovery needs: staging keys and the paths the command may touch. */
    plan: jsonb('plan').notNull().default({}),
    result: jsonb('result'),
    error: jsonb('error'),
    path: cText('path').notNull(),
    targetBackendId: int8('target_backend_id'),
    targetPath: cText('target_path'),
    nodeId: int8('node_id'),
    instanceId: text('instance_id').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    completedAt: tstz('completed_at'),
  },
  (t) => [
    primaryKey({ columns: [t.backendId, t.id] }),
    uniqueIndex('journal_idempotency_uq')
      .on(t.backendId, t.principal, t.idempotencyKey)
      .where(sql`idempotency_key IS NOT NULL AND idempotency_active`),
    // Keys are scoped per principal (docs/architecture.md, Invariants 3): finds a key's use on another backend.
    index('journal_principal_key_idx')
      .on(t.principal, t.idempotencyKey)
      .where(sql`idempotency_key IS NOT NULL AND idempotency_active`),
    index('journal_created_idx').on(t.createdAt, t.id),
    index('journal_node_idx').on(t.backendId, t.nodeId, t.id),
    index('journal_id_idx').on(t.id),
    index('journal_pending_idx').on(t.instanceId, t.id).where(sql`status = 'PENDING'`),
  ],
);

/**
 * The outbox: a command's events, inserted in its own transaction. `cursor` is
 * (transaction id << 20) + ordinal within the transaction; readers stop below the oldest
 * transaction still running, so a cursor never appears behind one already delivered (docs/decisions/002).
 */
export const events = pgTable(
  'events',
  {
    backendId: int8('backend_id').notNull(),
    cursor: int8('cursor').notNull(),
    type: text('type').notNull(),
    journalId: int8('journal_id'),
    command: text('command'),
    principal: text('principal'),
    nodeId: int8('node_id'),
    path: cText('path').notNull(),
    sourceBackendId: int8('source_backend_id'),
    sourcePath: cText('source_path'),
    node: jsonb('node'),
    occurredAt: tstz('occurred_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.backendId, t.cursor] }), index('events_cursor_idx').on(t.cursor), index('events_occurred_idx').on(t.backendId, t.occurredAt)],
);

/** Per backend: events with a cursor at or below `pruned_through` may have been removed by retention. */
export const eventHorizons = pgTable('event_horizons', {
  backendId: int8('backend_id').primaryKey(),
  prunedThrough: int8('pruned_through').notNull(),
  prunedAt: tstz('pruned_at').notNull().defaultNow(),
});

/**
 * A directory's rollup as last folded: sums over its live subtree (descendants only). Writers never
 * update these rows; they append deltas, and the rollup worker folds them in (docs/decisions/003).
 */
export const rollups = pgTable(
  'rollups',
  {
    backendId: int8('backend_id').notNull(),
    dirId: int8('dir_id').notNull(),
    sizeBytes: int8('size_bytes').notNull().default(0),
    fileCount: int8('file_count').notNull().default(0),
    dirCount: int8('dir_count').notNull().default(0),
    /** Set when a recompute was requested and has not run yet. */
    stale: boolean('stale').notNull().default(false),
    calculatedAt: tstz('calculated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.backendId, t.dirId] })],
);

/** Changes to a directory's direct contents, written in the command's transaction, not yet folded. */
export const rollupDeltas = pgTable(
  'rollup_deltas',
  {
    backendId: int8('backend_id').notNull(),
    id: bigserial('id', { mode: 'number' }).notNull(),
    dirId: int8('dir_id').notNull(),
    sizeBytes: int8('size_bytes').notNull(),
    fileCount: int8('file_count').notNull(),
    dirCount: int8('dir_count').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  // No index on dir_id: one more index entry per write, for reads (pending checks, recomputes) that
  // scan a table the fold keeps small.
  (t) => [primaryKey({ columns: [t.backendId, t.id] })],
);

export const instanceLockKeys = pgSequence('instance_lock_keys', { maxValue: 2147483647, cycle: true });

/**
 * Live and recently live processes. A process is alive while its session holds the advisory lock
 * (INSTANCE_LOCK_SPACE, lock_key); the row itself only names it. Not per backend: in a distributed
 * database this is a small reference table (docs/decisions/004).
 */
export const instances = pgTable('instances', {
  id: text('id').primaryKey(),
  lockKey: integer('lock_key').notNull().unique(),
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  addr: text('addr').notNull(),
  startedAt: tstz('started_at').notNull().defaultNow(),
  lastSeenAt: tstz('last_seen_at').notNull().defaultNow(),
});
