import type { Executor } from '../db/database.js';
import * as journal from '../db/journal-repo.js';
import * as nodes from '../db/nodes-repo.js';
import type { JournalRecord } from '../db/records.js';
import { createHash } from 'node:crypto';
import type { Backend } from '../backends/backend.js';
import { baseName, parentOf } from '../paths/index.js';
import { CreatedDirs, settlePlannedDirs } from './directories.js';
import { requireHeld, runJournalled, succeedRecovered, type CommandResult } from './journalled.js';
import { nodeCopied, nodeCreated } from '../events/change-events.js';
import { crashPoint } from './crash-points.js';
import { stageAcross } from './cross-backend.js';
import type { Actor, Services } from './services.js';
import { lockTransfer, replayTransfer, transferAddresses, transferEvents, transferSpec, type TransferInput } from './transfer.js';

export async function copyNodeCommand(svc: Services, actor: Actor, req: TransferInput): Promise<CommandResult> {
  const replay = await replayTransfer(svc, actor, 'CopyNode', req);
  if (replay) return replay;
  const { src, dst } = await transferAddresses(svc, req, 'copied');
  const { backend } = dst.entry;
  const key = backend.newStagingKey();
  const created = new CreatedDirs();
  let published = false;
  return runJournalled(
    svc,
    transferSpec('CopyNode', actor, req, src, dst, { staging_key: key }),
    {
      run: (journalId, succeed, transaction) =>
        transaction((tx) =>
          created.guard(dst.entry, async () => {
            const { node, parent, replaced } = await lockTransfer(tx, src, dst, req, 'share', journalId, created);
            // Rows first: the live-path unique index decides a race for the target before any I/O.
            const gone = replaced ? await nodes.deleteSubtree(tx, replaced, journalId) : null;
            const copy = await nodes.copySubtree(tx, node, { backendId: dst.backendId, path: dst.path, name: baseName(dst.path), parentId: parent.id }, journalId);
            if (src.backendId === dst.backendId) await backend.stageCopy(src.path, key);
            else await stageAcross(tx, node, src.entry.backend, backend, key);
            crashPoint('copy:after-stage');
            await requireHeld(tx, src.backendId, journalId);
            await backend.publish(key, dst.path);
            published = true;
            crashPoint('copy:after-publish');
            await succeed(tx, copy, transferEvents(created.events(), gone, nodeCopied(copy, src)));
            return copy;
          }),
        ),
      discard: async () => {
        if (!published) await backend.discard(key);
        await created.undo(dst.entry);
      },
      recover: (tx, e) => recoverCopyNode(svc, tx, e),
    },
  );
}

export async function recoverCopyNode(svc: Services, tx: Executor, e: JournalRecord): Promise<void> {
  const entry = svc.backends.get(e.targetBackendId ?? e.backendId);
  const key = e.plan.staging_key as string;
  const target = e.targetPath!;
  const dirs = (e.plan.dirs as string[]) ?? [];
  // Rows first, the disk after: no live command can change these paths while recovery reads them.
  const node = await nodes.findLive(tx, e.backendId, e.path, 'share');
  if (node?.kind === 'DIRECTORY') await nodes.lockDescendants(tx, e.backendId, e.path, 'share');
  const replacedBefore = await nodes.findLive(tx, entry.id, target, 'update');
  await entry.backend.settlePublish(key, target);
  const stillStaged = await entry.backend.stagingExists(key);
  const onTarget = await entry.backend.stat(target);
  // The copy landed only if the target holds what the source is. With overwrite, a file was at the
  // target before: only its content tells. A directory that was there is never the copy (publishing
  // never replaces a directory; the command was refused before its entry was marked FAILED).
  const sameKind = !!node && onTarget?.kind === (node.kind === 'DIRECTORY' ? 'directory' : 'file');
  const landed =
    sameKind &&
    (!replacedBefore || (replacedBefore.kind === 'FILE' && node!.kind === 'FILE' && (await contentHash(entry.backend, target)) === node!.sha256));
  if (node && !stillStaged && landed) {
    const made = await settlePlannedDirs(tx, entry, dirs, 'forward', e.id);
    const parent = await nodes.findLive(tx, entry.id, parentOf(target), 'share');
    if (parent) {
      const gone = replacedBefore ? await nodes.deleteSubtree(tx, replacedBefore, e.id) : null;
      const copy = await nodes.copySubtree(tx, node, { backendId: entry.id, path: target, name: baseName(target), parentId: parent.id }, e.id);
      return succeedRecovered(tx, e, copy, transferEvents(made.map(nodeCreated), gone, nodeCopied(copy, { backendId: e.backendId, path: e.path })));
    }
  }
  await entry.backend.discard(key);
  await settlePlannedDirs(tx, entry, dirs, 'back', e.id);
  await journal.markEnded(tx, e.backendId, e.id, 'ROLLED_BACK', null);
}

/** sha256 (hex) of the file at `path`, read through the backend. */
export async function contentHash(backend: Backend, path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of backend.read(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
