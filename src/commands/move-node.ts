import type { Executor } from '../db/database.js';
import * as journal from '../db/journal-repo.js';
import * as nodes from '../db/nodes-repo.js';
import type { JournalRecord } from '../db/records.js';
import { baseName, parentOf } from '../paths/index.js';
import { CreatedDirs, settlePlannedDirs } from './directories.js';
import { runJournalled, succeedRecovered, type CommandResult } from './journalled.js';
import { nodeCreated, nodeMoved } from '../events/change-events.js';
import { crashPoint } from './crash-points.js';
import { moveAcrossCommand, recoverMoveAcross } from './move-across.js';
import type { Actor, Services } from './services.js';
import { lockTransfer, replayTransfer, transferAddresses, transferEvents, transferSpec, type TransferInput } from './transfer.js';

export async function moveNodeCommand(svc: Services, actor: Actor, req: TransferInput): Promise<CommandResult> {
  const replay = await replayTransfer(svc, actor, 'MoveNode', req);
  if (replay) return replay;
  const { src, dst } = await transferAddresses(svc, req, 'moved');
  if (src.backendId !== dst.backendId) return moveAcrossCommand(svc, actor, req, src, dst);
  const created = new CreatedDirs();
  return runJournalled(
    svc,
    transferSpec('MoveNode', actor, req, src, dst),
    {
      run: (journalId, succeed, transaction) =>
        transaction((tx) =>
          created.guard(dst.entry, async () => {
            const { node, parent, replaced } = await lockTransfer(tx, src, dst, req, 'update', journalId, created);
            // Rows first: the live-path unique index decides a race for the target before any I/O.
            const gone = replaced ? await nodes.deleteSubtree(tx, replaced, journalId) : null;
            const moved = await nodes.moveSubtree(tx, node, { path: dst.path, name: baseName(dst.path), parentId: parent.id }, journalId);
            await src.entry.backend.rename(src.path, dst.path);
            crashPoint('move:after-rename');
            await succeed(tx, moved, transferEvents(created.events(), gone, nodeMoved(moved, src)));
            return moved;
          }),
        ),
      discard: () => created.undo(dst.entry),
      recover: (tx, e) => recoverMoveNode(svc, tx, e),
    },
  );
}

export async function recoverMoveNode(svc: Services, tx: Executor, e: JournalRecord): Promise<void | (() => Promise<void>)> {
  if (e.targetBackendId && e.targetBackendId !== e.backendId) return recoverMoveAcross(svc, tx, e);
  const entry = svc.backends.get(e.backendId);
  const target = e.targetPath!;
  const dirs = (e.plan.dirs as string[]) ?? [];
  // Rows first, the disk after: no live command can change these paths while recovery reads them.
  const node = await nodes.findLive(tx, e.backendId, e.path, 'update');
  if (node?.kind === 'DIRECTORY') await nodes.lockDescendants(tx, e.backendId, e.path, 'update');
  const replaced = await nodes.findLive(tx, e.backendId, target, 'update');
  await entry.backend.settleRename(e.path, target);
  const sourceGone = !(await entry.backend.stat(e.path));
  const targetThere = !!(await entry.backend.stat(target));
  if (node && sourceGone && targetThere) {
    const made = await settlePlannedDirs(tx, entry, dirs, 'forward', e.id);
    const parent = await nodes.findLive(tx, e.backendId, parentOf(target), 'share');
    if (parent) {
      const gone = replaced ? await nodes.deleteSubtree(tx, replaced, e.id) : null;
      const moved = await nodes.moveSubtree(tx, node, { path: target, name: baseName(target), parentId: parent.id }, e.id);
      return succeedRecovered(tx, e, moved, transferEvents(made.map(nodeCreated), gone, nodeMoved(moved, { backendId: e.backendId, path: e.path })));
    }
  }
  await settlePlannedDirs(tx, entry, dirs, 'back', e.id);
  await journal.markEnded(tx, e.backendId, e.id, 'ROLLED_BACK', null);
}
