// The events a command reports for the nodes it changed; the outbox adds cursor, journal id and time.
import type { NewEvent } from '../db/events-repo.js';
import type { NodeRecord, RollupRecord } from '../db/records.js';
import type { EventType } from './types.js';

export type { NewEvent } from '../db/events-repo.js';

interface Source {
  backendId: number;
  path: string;
}

function of(type: EventType, node: NodeRecord, source?: Source): NewEvent {
  return { type, backendId: node.backendId, path: node.path, node, sourceBackendId: source?.backendId ?? null, sourcePath: source?.path ?? null };
}

export const nodeCreated = (node: NodeRecord) => of('filestore.node.created', node);
export const nodeUpdated = (node: NodeRecord) => of('filestore.node.updated', node);
/** A deleted directory stands for its whole subtree: one event, not one per descendant. */
export const nodeDeleted = (node: NodeRecord) => of('filestore.node.deleted', node);
export const nodeMoved = (node: NodeRecord, from: Source) => of('filestore.node.moved', node, from);
export const nodeCopied = (node: NodeRecord, from: Source) => of('filestore.node.copied', node, from);

/**
 * A successful command's events: its node changes, then filestore.command.completed with the result
 * node (and, for moves and copies, where it came from).
 */
export function commandEvents(node: NodeRecord, changes: NewEvent[]): NewEvent[] {
  const main = [...changes].reverse().find((c) => c.sourcePath !== null && c.sourcePath !== undefined);
  const completed = { ...of('filestore.command.completed', node), sourceBackendId: main?.sourceBackendId ?? null, sourcePath: main?.sourcePath ?? null };
  return [...changes, completed];
}

/** A directory's rollup changed (one event per directory per fold, not one per write). */
export const rollupUpdated = (dir: NodeRecord, rollup: RollupRecord): NewEvent => ({ ...of('filestore.rollup.updated', dir), rollup });
