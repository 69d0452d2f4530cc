import type { Executor } from '../db/database.js';
import * as journal from '../db/journal-repo.js';
import * as nodes from '../db/nodes-repo.js';
import type { JournalRecord, Json } from '../db/records.js';
import { resolveAddress } from './addressing.js';
import { checkMetadata, checkVersion, requireFound, requireUsable, requireWritable } from './checks.js';
import { replayByNodeId, runJournalled, type CommandResult } from './journalled.js';
import { nodeUpdated } from '../events/change-events.js';
import type { Actor, Services } from './services.js';

export interface UpdateMetadataInput {
  backendId: number;
  path: string;
  nodeId?: number;
  metadata?: Json;
  merge: boolean;
  expectedVersion?: number;
  idempotencyKey: string;
}

/** Top-level merge: a key with a null value is removed. */
export function mergeMetadata(current: Json, patch: Json): Json {
  const merged: Json = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete merged[k];
    else merged[k] = v;
  }
  return merged;
}

export async function updateMetadataCommand(svc: Services, actor: Actor, req: UpdateMetadataInput): Promise<CommandResult> {
  // By node_id, the request means that node wherever it is: its path is not part of the params.
  const params = (backendId: number, path: string) => ({
    backend_id: backendId,
    path: req.nodeId ? null : path,
    node_id: req.nodeId || null,
    metadata: req.metadata ?? null,
    merge: req.merge,
    expected_version: req.expectedVersion ?? null,
  });
  const replay = await replayByNodeId(svc, actor, 'UpdateNodeMetadata', req, (backendId) => params(backendId, ''));
  if (replay) return replay;
  const addr = await resolveAddress(svc, req);
  requireWritable(addr.entry);
  checkMetadata(req.metadata, svc.limits.maxMetadataBytes);
  return runJournalled(
    svc,
    {
      command: 'UpdateNodeMetadata',
      actor,
      idempotencyKey: req.idempotencyKey,
      backendId: addr.backendId,
      path: addr.path,
      nodeId: addr.nodeId,
      params: params(addr.backendId, addr.path),
    },
    {
      run: (journalId, succeed, transaction) =>
        transaction(async (tx) => {
          const node = requireUsable(requireFound(await nodes.findLive(tx, addr.backendId, addr.path, 'update'), addr.backendId, addr.path, addr.nodeId));
          checkVersion(node, req.expectedVersion);
          const metadata = req.merge ? mergeMetadata(node.metadata, req.metadata ?? {}) : (req.metadata ?? {});
          checkMetadata(metadata, svc.limits.maxMetadataBytes);
          const updated = await nodes.updateNode(tx, node, { metadata }, journalId);
          await succeed(tx, updated, [nodeUpdated(updated)]);
          return updated;
        }),
      recover: (tx, e) => recoverUpdateMetadata(svc, tx, e),
    },
  );
}

/** No I/O: a PENDING entry means the transaction never committed. */
export async function recoverUpdateMetadata(_svc: Services, tx: Executor, e: JournalRecord): Promise<void> {
  await journal.markEnded(tx, e.backendId, e.id, 'ROLLED_BACK', null);
}
