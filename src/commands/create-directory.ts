import type { JournalRecord, Json, NodeRecord } from '../db/records.js';
import * as nodes from '../db/nodes-repo.js';
import * as journal from '../db/journal-repo.js';
import { alreadyExists } from '../errors/domain-error.js';
import { validateAddress } from './addressing.js';
import { checkMetadata, requireNotRoot, requireWritable } from './checks.js';
import { createDirectory, CreatedDirs, lockParent, plannedParents, settlePlannedDirs } from './directories.js';
import { runJournalled, type CommandResult } from './journalled.js';
import type { Actor, Services } from './services.js';

export interface CreateDirectoryInput {
  backendId: number;
  path: string;
  parents: boolean;
  metadata?: Json;
  idempotencyKey: string;
}

export async function createDirectoryCommand(svc: Services, actor: Actor, req: CreateDirectoryInput): Promise<CommandResult> {
  const addr = validateAddress(svc, req.backendId, req.path);
  requireNotRoot(addr.path, 'created');
  requireWritable(addr.entry);
  checkMetadata(req.metadata, svc.limits.maxMetadataBytes);
  const created = new CreatedDirs();
  return runJournalled(
    svc,
    {
      command: 'CreateDirectory',
      actor,
      idempotencyKey: req.idempotencyKey,
      backendId: addr.backendId,
      path: addr.path,
      params: { backend_id: addr.backendId, path: addr.path, parents: req.parents, metadata: req.metadata ?? null },
      plan: { dirs: [...plannedParents(addr.path), addr.path] },
    },
    {
      run: (journalId, succeed) =>
        svc.db.transaction(async (tx) => {
          const parent = await lockParent(tx, addr.entry, addr.path, req.parents, journalId, created);
          const refuseExisting = (existing: NodeRecord) => {
            if (!(req.parents && existing.kind === 'DIRECTORY')) {
              throw alreadyExists('NODE_EXISTS', `"${addr.path}" already exists (a ${existing.kind.toLowerCase()}); choose another path`);
            }
          };
          const existing = await nodes.findLive(tx, addr.backendId, addr.path, 'share');
          if (existing) refuseExisting(existing);
          let node = existing;
          if (!node) {
            // A racing command may create the path between the lookup and the insert: then it is ours only with parents.
            const made = await createDirectory(tx, addr.entry, addr.path, parent, journalId, created, req.metadata);
            if (!made.isNew) refuseExisting(made.node);
            node = made.node;
          }
          await succeed(tx, node);
          return node;
        }),
      discard: () => created.undo(addr.entry),
      recover: (entry) => recoverCreateDirectory(svc, entry),
    },
  );
}

export async function recoverCreateDirectory(svc: Services, entry: JournalRecord): Promise<void> {
  const backend = svc.backends.get(entry.backendId);
  const dirs = (entry.plan.dirs as string[]) ?? [];
  const target = await backend.backend.stat(entry.path);
  await svc.db.transaction(async (tx) => {
    if (target?.kind === 'directory') {
      await settlePlannedDirs(tx, backend, dirs, 'forward', entry.id);
      const node = await nodes.findLive(tx, entry.backendId, entry.path);
      if (node) return journal.markSucceeded(tx, entry.backendId, entry.id, node.id, { node: node as unknown as Json });
    }
    await settlePlannedDirs(tx, backend, dirs, 'back', entry.id);
    await journal.markEnded(tx, entry.backendId, entry.id, 'ROLLED_BACK', null);
  });
}
