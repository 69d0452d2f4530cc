// Domain records ↔ wire messages.
import type { BackendEntry } from '../commands/services.js';
import type { JournalRecord, JournalStatus as DomainJournalStatus, NodeRecord, RollupRecord, SnapshotRecord } from '../db/records.js';
import { JournalStatus, type JournalEntry } from '../../gen/filestore/v1/journal_service.js';
import { Event } from '../../gen/filestore/v1/events_service.js';
import { formatCursor } from '../events/cursor.js';
import type { EventRecord } from '../events/types.js';
import type { Heartbeat } from '../events/subscription.js';
import { BackendKind, NodeKind, NodeState, RollupState, type Backend, type Node, type NodeVersion } from '../../gen/filestore/v1/node.js';

const KINDS = { FILE: NodeKind.NODE_KIND_FILE, DIRECTORY: NodeKind.NODE_KIND_DIRECTORY } as const;
const STATES = {
  ACTIVE: NodeState.NODE_STATE_ACTIVE,
  INCONSISTENT: NodeState.NODE_STATE_INCONSISTENT,
  MISSING: NodeState.NODE_STATE_MISSING,
  DELETED: NodeState.NODE_STATE_DELETED,
} as const;
const JOURNAL_STATUSES: Record<DomainJournalStatus, JournalStatus> = {
  PENDING: JournalStatus.JOURNAL_STATUS_PENDING,
  SUCCEEDED: JournalStatus.JOURNAL_STATUS_SUCCEEDED,
  FAILED: JournalStatus.JOURNAL_STATUS_FAILED,
  ROLLED_BACK: JournalStatus.JOURNAL_STATUS_ROLLED_BACK,
};

export function journalStatusFromWire(s: JournalStatus): DomainJournalStatus | undefined {
  return (Object.keys(JOURNAL_STATUSES) as DomainJournalStatus[]).find((k) => JOURNAL_STATUSES[k] === s);
}

const ROLLUP_STATES: Record<RollupRecord['state'], RollupState> = {
  UP_TO_DATE: RollupState.ROLLUP_STATE_UP_TO_DATE,
  PENDING: RollupState.ROLLUP_STATE_PENDING,
  STALE: RollupState.ROLLUP_STATE_STALE,
};

export function nodeToWire(n: NodeRecord, rollup?: RollupRecord): Node {
  return {
    id: n.id,
    backendId: n.backendId,
    path: n.path,
    name: n.name,
    kind: KINDS[n.kind],
    state: STATES[n.state],
    version: n.version,
    sizeBytes: n.sizeBytes,
    sha256: n.sha256 ?? '',
    metadata: n.metadata,
    createdAt: n.createdAt,
    updatedAt: n.updatedAt,
    rollup: rollup && {
      sizeBytes: rollup.sizeBytes,
      fileCount: rollup.fileCount,
      dirCount: rollup.dirCount,
      state: ROLLUP_STATES[rollup.state],
      lastCalculatedAt: rollup.calculatedAt,
    },
  };
}

export function snapshotToWire(s: SnapshotRecord): NodeVersion {
  return {
    nodeId: s.nodeId,
    version: s.version,
    backendId: s.backendId,
    path: s.path,
    kind: KINDS[s.kind],
    state: STATES[s.state],
    sizeBytes: s.sizeBytes,
    sha256: s.sha256 ?? '',
    metadata: s.metadata,
    journalId: s.journalId ?? 0,
    createdAt: s.createdAt,
  };
}

export function backendToWire(b: BackendEntry): Backend {
  return {
    id: b.id,
    name: b.name,
    kind: b.backend.kind === 'local' ? BackendKind.BACKEND_KIND_LOCAL : BackendKind.BACKEND_KIND_S3,
    location: b.backend.location,
    readOnly: b.readOnly,
  };
}

export function journalToWire(e: JournalRecord): JournalEntry {
  return {
    id: e.id,
    command: e.command,
    status: JOURNAL_STATUSES[e.status],
    principal: e.principal,
    idempotencyKey: e.idempotencyKey ?? '',
    backendId: e.backendId,
    path: e.path,
    targetPath: e.targetPath ?? '',
    targetBackendId: e.targetBackendId ?? 0,
    nodeId: e.nodeId ?? 0,
    params: e.params,
    result: e.result ?? undefined,
    error: e.error ?? undefined,
    createdAt: e.createdAt,
    completedAt: e.completedAt ?? undefined,
  };
}

/** The command result carried by every mutating response. */
export function resultToWire(r: { node: NodeRecord; journalId: number; idempotentReplay: boolean }) {
  return { node: nodeToWire(r.node), journalId: r.journalId, idempotentReplay: r.idempotentReplay };
}

/** An outbox event or a heartbeat, as sent to subscribers. */
export function eventToWire(e: EventRecord | Heartbeat): Event {
  if (!('backendId' in e)) return Event.fromPartial({ cursor: formatCursor(e.cursor), type: e.type, occurredAt: e.occurredAt });
  return Event.fromPartial({
    cursor: formatCursor(e.cursor),
    type: e.type,
    occurredAt: e.occurredAt,
    journalId: e.journalId ?? 0,
    backendId: e.backendId,
    path: e.path,
    node: e.node ? nodeToWire(e.node, e.rollup ?? undefined) : undefined,
    sourcePath: e.sourcePath ?? '',
    sourceBackendId: e.sourceBackendId ?? 0,
    command: e.command ?? '',
    principal: e.principal ?? '',
  });
}
