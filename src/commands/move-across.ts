// MoveNode between two backends: one journal entry, one transaction. The node (or tree) is staged on
// the target from the source (cross-backend.ts), published there, then taken out of the source into
// its staging (the trash, still undoable), the rows copied to the target and deleted at the source;
// the trash goes after the commit. The node gets new ids on the target (ids are per backend);
// filestore.node.moved carries both backends.
import type { Executor } from '../db/database.js';
import * as journal from '../db/journal-repo.js';
import * as nodes from '../db/nodes-repo.js';
import type { JournalRecord } from '../db/records.js';
import { nodeCreated, nodeMoved } from '../events/change-events.js';
import { baseName, parentOf } from '../paths/index.js';
import type { Address } from './addressing.js';
import { contentHash } from './copy-node.js';
import { crashPoint } from './crash-points.js';
import { stageAcross } from './cross-backend.js';
import { CreatedDirs, settlePlannedDirs } from './directories.js';
import { requireHeld, runJournalled, succeedRecovered, type CommandResult } from './journalled.js';
import type { Actor, Services } from './services.js';
import { lockTransfer, transferEvents, transferSpec, type TransferInput } from './transfer.js';

export async function moveAcrossCommand(svc: Services, actor: Actor, req: TransferInput, src: Address, dst: Address): Promise<CommandResult> {
  const source = src.entry.backend;
  const target = dst.entry.backend;
  const stagingKey = target.newStagingKey();
  const trashKey = source.newStagingKey();
  const created = new CreatedDirs();
  let published = false;
  const result = await runJournalled(svc, transferSpec('MoveNode', actor, req, src, dst, { staging_key: stagingKey, trash_key: trashKey }), {
    run: (journalId, succeed, transaction) =>
      transaction((tx) =>
        created.guard(dst.entry, async () => {
          const { node, parent, replaced } = await lockTransfer(tx, src, dst, req, 'update', journalId, created);
          const gone = replaced ? await nodes.deleteSubtree(tx, replaced, journalId) : null;
          const moved = await nodes.copySubtree(tx, node, { backendId: dst.backendId, path: dst.path, name: baseName(dst.path), parentId: parent.id }, journalId);
          await stageAcross(tx, node, source, target, stagingKey); // walks the source's rows: before they go
          await nodes.deleteSubtree(tx, node, journalId);
          crashPoint('move:after-stage');
          await requireHeld(tx, src.backendId, journalId);
          await target.publish(stagingKey, dst.path);
          published = true;
          crashPoint('move:after-publish');
          await source.unpublish(src.path, trashKey);
          crashPoint('move:after-unpublish');
          await succeed(tx, moved, transferEvents(created.events(), gone, nodeMoved(moved, src)));
          return moved;
        }),
      ),
    discard: async () => {
      if (!published) await target.discard(stagingKey);
      await created.undo(dst.entry);
    },
    recover: (tx, e) => recoverMoveAcross(svc, tx, e),
  });
  if (!result.idempotentReplay) await source.discard(trashKey).catch(() => {}); // leftovers are swept at start
  return result;
}

/**
 * A cross-backend move cut off: forward once the copy landed on the target (the source is then taken
 * out if it was not yet), back otherwise (the source was never touched: it goes after the publish).
 */
export async function recoverMoveAcross(svc: Services, tx: Executor, e: JournalRecord): Promise<() => Promise<void>> {
  const src = svc.backends.get(e.backendId);
  const dst = svc.backends.get(e.targetBackendId!);
  const stagingKey = e.plan.staging_key as string;
  const trashKey = e.plan.trash_key as string;
  const target = e.targetPath!;
  const dirs = (e.plan.dirs as string[]) ?? [];
  // Rows first, the backends after: no live command can change these paths while recovery reads them.
  const node = await nodes.findLive(tx, e.backendId, e.path, 'update');
  if (node?.kind === 'DIRECTORY') await nodes.lockDescendants(tx, e.backendId, e.path, 'update');
  const replaced = await nodes.findLive(tx, dst.id, target, 'update');
  await dst.backend.settlePublish(stagingKey, target);
  await src.backend.settleUnpublish(e.path, trashKey);
  const stillStaged = await dst.backend.stagingExists(stagingKey);
  const onTarget = await dst.backend.stat(target);
  const sameKind = !!node && onTarget?.kind === (node.kind === 'DIRECTORY' ? 'directory' : 'file');
  // A file that was at the target before (overwrite): only the content tells whether the copy landed.
  const landed = !!node && !stillStaged && sameKind && (node.kind === 'DIRECTORY' ? !replaced : (await contentHash(dst.backend, target)) === node.sha256);
  const discardTrash = () => src.backend.discard(trashKey);
  if (node && landed) {
    const made = await settlePlannedDirs(tx, dst, dirs, 'forward', e.id);
    const parent = await nodes.findLive(tx, dst.id, parentOf(target), 'share');
    if (parent) {
      if (await src.backend.stat(e.path)) await src.backend.unpublish(e.path, trashKey);
      const gone = replaced ? await nodes.deleteSubtree(tx, replaced, e.id) : null;
      const moved = await nodes.copySubtree(tx, node, { backendId: dst.id, path: target, name: baseName(target), parentId: parent.id }, e.id);
      await nodes.deleteSubtree(tx, node, e.id);
      await succeedRecovered(tx, e, moved, transferEvents(made.map(nodeCreated), gone, nodeMoved(moved, { backendId: e.backendId, path: e.path })));
      return discardTrash;
    }
    await dst.backend.unpublish(target, stagingKey); // landed below no parent: taken back with the rest
  }
  // Not landed: the source was never taken out (that comes after the publish); a trash, if any, goes back.
  if ((await src.backend.stagingExists(trashKey)) && !(await src.backend.stat(e.path))) await src.backend.publish(trashKey, e.path);
  await dst.backend.discard(stagingKey);
  await settlePlannedDirs(tx, dst, dirs, 'back', e.id);
  await journal.markEnded(tx, e.backendId, e.id, 'ROLLED_BACK', null);
  return discardTrash;
}
