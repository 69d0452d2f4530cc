// WriteFile: stage the upload (hashed, fsynced) outside any transaction, then in one
// transaction check the preconditions, publish the staged file by rename, and commit the rows.
import type { Executor } from '../db/database.js';
import * as journal from '../db/journal-repo.js';
import * as nodes from '../db/nodes-repo.js';
import type { JournalRecord, Json, NodeRecord } from '../db/records.js';
import { alreadyExists, invalidArgument } from '../errors/domain-error.js';
import { baseName, parentOf } from '../paths/index.js';
import { validateAddress } from './addressing.js';
import { checkMetadata, checkVersion, requireKind, requireNotRoot, requireUsable, requireWritable } from './checks.js';
import { CreatedDirs, lockParent, plannedParents, settlePlannedDirs } from './directories.js';
import { runJournalled, succeedRecovered, type CommandResult } from './journalled.js';
import { nodeCreated, nodeUpdated } from '../events/change-events.js';
import { crashPoint } from './crash-points.js';
import { contentHash } from './copy-node.js';
import type { Actor, BackendEntry, Services } from './services.js';

export interface WriteFileInput {
  backendId: number;
  path: string;
  overwrite: boolean;
  expectedVersion?: number;
  sha256: string;
  metadata?: Json;
  idempotencyKey: string;
  parents: boolean;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function validateWriteHeader(svc: Services, h: WriteFileInput): BackendEntry {
  const addr = validateAddress(svc, h.backendId, h.path);
  requireNotRoot(addr.path, 'written as a file');
  requireWritable(addr.entry);
  checkMetadata(h.metadata, svc.limits.maxMetadataBytes);
  if (h.sha256 && !SHA256_HEX.test(h.sha256)) {
    throw invalidArgument('SHA256_INVALID', 'sha256 must be 64 lowercase hexadecimal characters');
  }
  if (h.expectedVersion !== undefined && h.expectedVersion < 0) {
    throw invalidArgument('EXPECTED_VERSION_INVALID', 'expected_version must be 0 (must not exist) or a positive version');
  }
  return addr.entry;
}

interface Content {
  sizeBytes: number;
  sha256: string;
  metadata?: Json;
}

/** Inserts or updates the file row after the content is in place. */
async function upsertFileRow(
  tx: Executor,
  entry: BackendEntry,
  path: string,
  parent: NodeRecord,
  existing: NodeRecord | null,
  c: Content,
  journalId: number,
) {
  if (existing) {
    return nodes.updateNode(tx, existing, { sizeBytes: c.sizeBytes, sha256: c.sha256, metadata: c.metadata ?? existing.metadata, state: 'ACTIVE' }, journalId);
  }
  return nodes.insertNode(tx, {
    backendId: entry.id,
    parentId: parent.id,
    path,
    name: baseName(path),
    kind: 'FILE',
    sizeBytes: c.sizeBytes,
    sha256: c.sha256,
    metadata: c.metadata,
  }, journalId);
}

export async function writeFileCommand(
  svc: Services,
  actor: Actor,
  header: WriteFileInput,
  chunks: AsyncIterable<Uint8Array>,
): Promise<CommandResult> {
  const entry = validateWriteHeader(svc, header);
  const { backend } = entry;
  const key = backend.newStagingKey();
  const staged = await backend.stage(key, chunks, { maxBytes: svc.limits.maxUploadBytes });
  if (header.sha256 && header.sha256 !== staged.sha256) {
    await backend.discard(key);
    throw invalidArgument('CHECKSUM_MISMATCH', `the content's sha256 is ${staged.sha256}, not the ${header.sha256} the header announced; upload again`);
  }
  const content: Content = { sizeBytes: staged.sizeBytes, sha256: staged.sha256, metadata: header.metadata };
  const created = new CreatedDirs();
  let published = false;
  return runJournalled(
    svc,
    {
      command: 'WriteFile',
      actor,
      idempotencyKey: header.idempotencyKey,
      backendId: entry.id,
      path: header.path,
      params: {
        backend_id: entry.id,
        path: header.path,
        overwrite: header.overwrite,
        expected_version: header.expectedVersion ?? null,
        sha256: staged.sha256,
        size_bytes: staged.sizeBytes,
        metadata: header.metadata ?? null,
        parents: header.parents,
      },
      plan: { staging_key: key, dirs: header.parents ? plannedParents(header.path) : [] },
    },
    {
      run: (journalId, succeed, transaction) =>
        transaction((tx) =>
          created.guard(entry, async () => {
            const parent = await lockParent(tx, entry, header.path, header.parents, journalId, created);
            let existing = await nodes.findLive(tx, entry.id, header.path, 'update');
            let node: NodeRecord | null = null;
            if (!existing) {
              checkVersion(null, header.expectedVersion);
              node = await upsertFileRow(tx, entry, header.path, parent, null, content, journalId);
              if (!node) existing = await nodes.findLive(tx, entry.id, header.path, 'update'); // lost a creation race
            }
            if (existing) {
              requireUsable(existing);
              requireKind(existing, 'FILE', 'a directory cannot be overwritten by a file');
              checkVersion(existing, header.expectedVersion);
              if (header.expectedVersion === undefined && !header.overwrite) {
                throw alreadyExists('NODE_EXISTS', `"${header.path}" already exists; set overwrite or expected_version to replace it`);
              }
            }
            crashPoint('write:before-publish');
            await backend.publish(key, header.path);
            published = true;
            crashPoint('write:after-publish');
            node = existing ? await upsertFileRow(tx, entry, header.path, parent, existing, content, journalId) : node!;
            await succeed(tx, node!, [...created.events(), existing ? nodeUpdated(node!) : nodeCreated(node!)]);
            return node!;
          }),
        ),
      // A new file below an existing directory can share a group commit; any other case runs alone.
      creation:
        header.expectedVersion === undefined || header.expectedVersion === 0
          ? {
              backend: entry,
              node: { parentPath: parentOf(header.path), name: baseName(header.path), kind: 'FILE', sizeBytes: content.sizeBytes, sha256: content.sha256, metadata: header.metadata ?? {} },
              publish: async (step) => {
                crashPoint('write:before-publish');
                await backend.publish(key, header.path, step);
                published = true;
                crashPoint('write:after-publish');
              },
              unpublish: async () => {
                await backend.unpublish(header.path, key);
                published = false;
              },
            }
          : undefined,
      discard: async () => {
        if (!published) await backend.discard(key);
        await created.undo(entry);
      },
      recover: (tx, e) => recoverWriteFile(svc, tx, e),
    },
  );
}

export async function recoverWriteFile(svc: Services, tx: Executor, e: JournalRecord): Promise<void> {
  const entry = svc.backends.get(e.backendId);
  const key = e.plan.staging_key as string;
  const dirs = (e.plan.dirs as string[]) ?? [];
  const p = e.params as { size_bytes: number; sha256: string; metadata: Json | null };
  // Rows first, the disk after: no live command can change the path while recovery reads it.
  const existing = await nodes.findLive(tx, entry.id, e.path, 'update');
  await entry.backend.settlePublish(key, e.path);
  const stillStaged = await entry.backend.stagingExists(key);
  const onDisk = await entry.backend.stat(e.path);
  // Staging gone and a file at the path: the rename happened, unless that file was there before (a
  // refused overwrite discards its staging before its entry is marked FAILED; an untracked file, when a
  // power cut lost the staged upload's name, which is not synced): the content tells.
  const published =
    !stillStaged && onDisk?.kind === 'file' && onDisk.sizeBytes === p.size_bytes && (await contentHash(entry.backend, e.path)) === p.sha256;
  if (published) {
    // The rename happened and the transaction did not commit: roll the metadata forward.
    const made = await settlePlannedDirs(tx, entry, dirs, 'forward', e.id);
    const parent = await nodes.findLive(tx, entry.id, parentOf(e.path), 'share');
    if (parent && existing?.kind !== 'DIRECTORY') {
      const node = (await upsertFileRow(tx, entry, e.path, parent, existing, {
        sizeBytes: p.size_bytes,
        sha256: p.sha256,
        metadata: p.metadata ?? undefined,
      }, e.id))!;
      return succeedRecovered(tx, e, node, [...made.map(nodeCreated), existing ? nodeUpdated(node) : nodeCreated(node)]);
    }
  }
  await entry.backend.discard(key);
  await settlePlannedDirs(tx, entry, dirs, 'back', e.id);
  await journal.markEnded(tx, e.backendId, e.id, 'ROLLED_BACK', null);
}
