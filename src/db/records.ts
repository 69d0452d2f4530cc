// Domain records read from the tables, and their mapping from raw rows
// (drivers return int8 and timestamps as strings; we normalise here, once).
export type NodeKind = 'FILE' | 'DIRECTORY';
export type NodeState = 'ACTIVE' | 'INCONSISTENT' | 'MISSING' | 'DELETED';
export type JournalStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED' | 'ROLLED_BACK';
export type Json = Record<string, unknown>;

export interface NodeRecord {
  backendId: number;
  id: number;
  parentId: number | null;
  path: string;
  name: string;
  kind: NodeKind;
  state: NodeState;
  version: number;
  sizeBytes: number;
  sha256: string | null;
  metadata: Json;
  createdAt: Date;
  updatedAt: Date;
}

export interface SnapshotRecord {
  backendId: number;
  nodeId: number;
  version: number;
  path: string;
  kind: NodeKind;
  state: NodeState;
  sizeBytes: number;
  sha256: string | null;
  metadata: Json;
  journalId: number | null;
  createdAt: Date;
}

export interface JournalRecord {
  backendId: number;
  id: number;
  command: string;
  status: JournalStatus;
  principal: string;
  idempotencyKey: string | null;
  paramsHash: string;
  params: Json;
  plan: Json;
  result: Json | null;
  error: { code: string; reason: string; message: string } | null;
  path: string;
  targetBackendId: number | null;
  targetPath: string | null;
  nodeId: number | null;
  instanceId: string;
  createdAt: Date;
  completedAt: Date | null;
}

export type RollupState = 'UP_TO_DATE' | 'PENDING' | 'STALE';

export interface RollupRecord {
  sizeBytes: number;
  fileCount: number;
  dirCount: number;
  state: RollupState;
  calculatedAt: Date;
}

type Raw = Record<string, unknown>;

export const int = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
export const intOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : int(v));
export const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
const json = (v: unknown): Json => (typeof v === 'string' ? JSON.parse(v) : (v as Json));

export function toNode(r: Raw): NodeRecord {
  return {
    backendId: int(r.backend_id),
    id: int(r.id),
    parentId: intOrNull(r.parent_id),
    path: r.path as string,
    name: r.name as string,
    kind: r.kind as NodeKind,
    state: r.state as NodeState,
    version: int(r.version),
    sizeBytes: int(r.size_bytes),
    sha256: (r.sha256 as string | null) ?? null,
    metadata: json(r.metadata),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

export function toSnapshot(r: Raw): SnapshotRecord {
  return {
    backendId: int(r.backend_id),
    nodeId: int(r.node_id),
    version: int(r.version),
    path: r.path as string,
    kind: r.kind as NodeKind,
    state: r.state as NodeState,
    sizeBytes: int(r.size_bytes),
    sha256: (r.sha256 as string | null) ?? null,
    metadata: json(r.metadata),
    journalId: intOrNull(r.journal_id),
    createdAt: date(r.created_at),
  };
}

export function toJournal(r: Raw): JournalRecord {
  return {
    backendId: int(r.backend_id),
    id: int(r.id),
    command: r.command as string,
    status: r.status as JournalStatus,
    principal: r.principal as string,
    idempotencyKey: (r.idempotency_key as string | null) ?? null,
    paramsHash: r.params_hash as string,
    params: json(r.params),
    plan: json(r.plan),
    result: r.result == null ? null : json(r.result),
    error: r.error == null ? null : (json(r.error) as JournalRecord['error']),
    path: r.path as string,
    targetBackendId: intOrNull(r.target_backend_id),
    targetPath: (r.target_path as string | null) ?? null,
    nodeId: intOrNull(r.node_id),
    instanceId: r.instance_id as string,
    createdAt: date(r.created_at),
    completedAt: dateOrNull(r.completed_at),
  };
}

/** Nodes travel through the journal's result column as JSON; this restores them. */
export function nodeFromJson(j: Json): NodeRecord {
  const { rollup: _rollup, ...n } = j as unknown as NodeRecord & { rollup?: unknown };
  return { ...n, createdAt: date(n.createdAt), updatedAt: date(n.updatedAt) };
}

/** An event as stored in the outbox. */
export interface EventRecord {
  cursor: bigint;
  type: string;
  occurredAt: Date;
  journalId: number | null;
  command: string | null;
  principal: string | null;
  backendId: number;
  path: string;
  sourceBackendId: number | null;
  sourcePath: string | null;
  node: NodeRecord | null;
  /** filestore.rollup.updated: the directory's rollup after the change. */
  rollup: RollupRecord | null;
}

export function toEvent(r: Raw): EventRecord {
  const stored = r.node === null || r.node === undefined ? null : json(r.node);
  const node = stored ? nodeFromJson(stored) : null;
  const rollup = stored?.rollup ? rollupFromJson(stored.rollup as Json) : null;
  return {
    cursor: BigInt(r.cursor as string | number),
    type: r.type as string,
    occurredAt: date(r.occurred_at),
    journalId: intOrNull(r.journal_id),
    command: (r.command as string | null) ?? null,
    principal: (r.principal as string | null) ?? null,
    backendId: int(r.backend_id),
    path: r.path as string,
    sourceBackendId: intOrNull(r.source_backend_id),
    sourcePath: (r.source_path as string | null) ?? null,
    node,
    rollup,
  };
}

function rollupFromJson(j: Json): RollupRecord {
  const r = j as unknown as RollupRecord;
  return { ...r, calculatedAt: date(r.calculatedAt) };
}
