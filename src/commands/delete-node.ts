import type { Executor } from '../db/database.js';
import * as journal from '../db/journal-repo.js';
import * as nodes from '../db/nodes-repo.js';
import type { JournalRecord } from '../db/records.js';
import { failedPrecondition } from '../errors/domain-error.js';
import { resolveAddress } from './addressing.js';
import { checkVersion, requireFound, requireNotRoot, requireWritable } from './checks.js';
import { replayByNodeId, runJournalled, succeedRecovered, type CommandResult } from './journalled.js';
import { nodeDeleted } from '../events/change-events.js';
import { crashPoint } from './crash-points.js';
import type { Actor, Services } from './services.js';

export interface DeleteNodeInput {
  backendId: number;
  path: string;
  nodeId?: number;
  recursive: boolean;
  expectedVersion?: number;
  idempotencyKey: string;
}

/**
 * DeleteNode: in one transaction, move the node out of the tree into staging (one rename,
 * so it can still be undone) and mark it and its subtree DELETED; purge the staged copy after commit.
 */
export async function deleteNodeCommand(svc: Services, actor: Actor, req: DeleteNodeInput): Promise<CommandResult> {
  // By node_id, the request means that node wherever it is: its path is not part of the params.
  const params = (backendId: number, path: string) => ({
    backend_id: backendId,
    path: req.nodeId ? null : path,
    node_id: req.nodeId || null,
    recursive: req.recursive,
    expected_version: req.expectedVersion ?? null,
  });
  const replay = await replayByNodeId(svc, actor, 'DeleteNode', req, (backendId) => params(backendId, ''));
  if (replay) return replay;
  const addr = await resolveAddress(svc, req);
  requireNotRoot(addr.path, 'deleted');
  requireWritable(addr.entry);
  const { backend } = addr.entry;
  const trashKey = backend.newStagingKey();
  const result = await runJournalled(
    svc,
    {
      command: 'DeleteNode',
      actor,
      idempotencyKey: req.idempotencyKey,
      backendId: addr.backendId,
      path: addr.path,
      nodeId: addr.nodeId,
      params: params(addr.backendId, addr.path),
      plan: { trash_key: trashKey },
    },
    {
      run: (journalId, succeed, transaction) =>
        transaction(async (tx) => {
          const node = requireFound(await nodes.findLive(tx, addr.backendId, addr.path, 'update'), addr.backendId, addr.path, addr.nodeId);
          checkVersion(node, req.expectedVersion);
          if (node.kind === 'DIRECTORY') {
            if (!req.recursive && (await nodes.hasLiveChildren(tx, node.backendId, node.id))) {
              throw failedPrecondition('DIRECTORY_NOT_EMPTY', `"${node.path}" is a directory with children; set recursive to delete it all`);
            }
            await nodes.lockDescendants(tx, node.backendId, node.path, 'update');
          }
          if (await backend.stat(node.path)) await backend.unpublish(node.path, trashKey);
          crashPoint('delete:after-unpublish');
          const deleted = await nodes.deleteSubtree(tx, node, journalId);
          await succeed(tx, deleted, [nodeDeleted(deleted)]);
          return deleted;
        }),
      recover: (tx, e) => recoverDeleteNode(svc, tx, e),
    },
  );
  if (!result.idempotentReplay) await backend.discard(trashKey).catch(() => {}); // leftovers are swept at start
  return result;
}

export async function recoverDeleteNode(svc: Services, tx: Executor, e: JournalRecord): Promise<() => Promise<void>> {
  const entry = svc.backends.get(e.backendId);
  const key = e.plan.trash_key as string;
  // Rows first, the disk after: no live command can change the path while recovery reads it.
  const node = await nodes.findLive(tx, e.backendId, e.path, 'update');
  if (node?.kind === 'DIRECTORY') await nodes.lockDescendants(tx, node.backendId, node.path, 'update');
  await entry.backend.settleUnpublish(e.path, key);
  const trashed = await entry.backend.stagingExists(key);
  const stillThere = !!(await entry.backend.stat(e.path));
  if (node && trashed && !stillThere) {
    const deleted = await nodes.deleteSubtree(tx, node, e.id);
    await succeedRecovered(tx, e, deleted, [nodeDeleted(deleted)]);
  } else {
    await journal.markEnded(tx, e.backendId, e.id, 'ROLLED_BACK', null);
  }
  // The trash goes once the outcome is committed; a crash before leaves it to the staging sweep.
  return () => entry.backend.discard(key);
}
