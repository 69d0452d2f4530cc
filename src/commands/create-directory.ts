import type { Executor } from '../db/database.js';
import type { JournalRecord, Json } from '../db/records.js';
import * as nodes from '../db/nodes-repo.js';
import * as journal from '../db/journal-repo.js';
import { alreadyExists } from '../errors/domain-error.js';
import { validateAddress } from './addressing.js';
import { checkMetadata, requireNotRoot, requireWritable } from './checks.js';
import { createDirectory, CreatedDirs, lockParent, makeDirectory, plannedParents, settlePlannedDirs } from './directories.js';
import { baseName, parentOf } from '../paths/index.js';
import { runJournalled, succeedRecovered, type CommandResult } from './journalled.js';
import { nodeCreated } from '../events/change-events.js';
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
  let made = false;
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
      run: (journalId, succeed, transaction) =>
        transaction((tx) =>
          created.guard(addr.entry, async () => {
            const parent = await lockParent(tx, addr.entry, addr.path, req.parents, journalId, created);
            // The insert arbitrates races: a node already there is ours only as `mkdir -p` would take it.
            const { node, isNew } = await createDirectory(tx, addr.entry, addr.path, parent, journalId, created, req.metadata);
            if (!isNew && !(req.parents && node.kind === 'DIRECTORY')) {
              throw alreadyExists('NODE_EXISTS', `"${addr.path}" already exists (a ${node.kind.toLowerCase()}); choose another path`);
            }
            await succeed(tx, node, created.events());
            return node;
          }),
        ),
      creation: {
        backend: addr.entry,
        node: { parentPath: parentOf(addr.path), name: baseName(addr.path), kind: 'DIRECTORY', sizeBytes: 0, sha256: null, metadata: req.metadata ?? {} },
        publish: async (step) => {
          made = await makeDirectory(addr.entry, addr.path, step);
        },
        unpublish: async () => {
          if (made) await addr.entry.backend.remove(addr.path);
        },
      },
      discard: () => created.undo(addr.entry),
      recover: (tx, entry) => recoverCreateDirectory(svc, tx, entry),
    },
  );
}

export async function recoverCreateDirectory(svc: Services, tx: Executor, entry: JournalRecord): Promise<void> {
  const backend = svc.backends.get(entry.backendId);
  const dirs = (entry.plan.dirs as string[]) ?? [];
  // Row first, the disk after: no live command can change the path while recovery reads it.
  const node = await nodes.findLive(tx, entry.backendId, entry.path, 'update');
  const target = await backend.backend.stat(entry.path);
  if (target?.kind === 'directory') {
    const made = await settlePlannedDirs(tx, backend, dirs, 'forward', entry.id);
    const row = node ?? (await nodes.findLive(tx, entry.backendId, entry.path));
    // A directory that was there before this command counts as its result only under `parents` (mkdir -p).
    const ours = row && (entry.params.parents || (await nodes.createdBy(tx, row)) === entry.id);
    if (row && ours) return succeedRecovered(tx, entry, row, made.map(nodeCreated));
  }
  await settlePlannedDirs(tx, backend, dirs, 'back', entry.id);
  await journal.markEnded(tx, entry.backendId, entry.id, 'ROLLED_BACK', null);
}
