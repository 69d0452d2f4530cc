// Directory rows and their on-disk twins, created together inside a command's transaction:
// the row first (it arbitrates races through the unique live-path index), then the mkdir.
import type { DiskStep } from '../backends/backend.js';
import type { Executor } from '../db/database.js';
import * as nodes from '../db/nodes-repo.js';
import type { Json, NodeRecord } from '../db/records.js';
import { failedPrecondition, isFilestoreError } from '../errors/domain-error.js';
import { ancestorsOf, baseName, parentOf } from '../paths/index.js';
import { requireKind, requireUsable } from './checks.js';
import { crashPoint } from './crash-points.js';
import type { BackendEntry } from './services.js';
import { nodeCreated, type NewEvent } from '../events/change-events.js';

/** Directories a command created: on disk, to remove again if it ends without effect; as rows, to report. */
export class CreatedDirs {
  readonly paths: string[] = [];
  readonly rows: NodeRecord[] = [];

  /** filestore.node.created for each directory row this command inserted, parents first. */
  events(): NewEvent[] {
    return this.rows.map(nodeCreated);
  }

  /**
   * Runs a transaction body and, if it throws, removes the directories it created while its row
   * locks still keep other commands off those paths.
   */
  async guard<T>(entry: BackendEntry, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      await this.undo(entry);
      throw err;
    }
  }

  async undo(entry: BackendEntry): Promise<void> {
    for (const p of [...this.paths].reverse()) await entry.backend.remove(p).catch(() => {});
    this.paths.length = 0;
    this.rows.length = 0;
  }
}

/** Creates a directory row (or adopts the live one a racing command just made) and the directory on disk. */
export async function createDirectory(
  tx: Executor,
  entry: BackendEntry,
  path: string,
  parent: NodeRecord,
  journalId: number,
  created: CreatedDirs,
  metadata: Json = {},
): Promise<{ node: NodeRecord; isNew: boolean }> {
  const inserted = await nodes.insertNode(tx, { backendId: entry.id, parentId: parent.id, path, name: baseName(path), kind: 'DIRECTORY', metadata }, journalId);
  if (!inserted) {
    const existing = (await nodes.findLive(tx, entry.id, path, 'share'))!;
    return { node: existing, isNew: false };
  }
  created.rows.push(inserted);
  if (await makeDirectory(entry, path)) created.paths.push(path);
  return { node: inserted, isNew: true };
}

/** The mkdir of a directory whose row this command inserted. False: it was on disk already, untracked, and is adopted. */
export async function makeDirectory(entry: BackendEntry, path: string, step?: DiskStep): Promise<boolean> {
  try {
    await entry.backend.mkdir(path, step);
    crashPoint('mkdir:after-mkdir');
    return true;
  } catch (err) {
    // Already on disk but untracked: a directory is adopted, anything else is in the way.
    if (!(isFilestoreError(err) && err.reason === 'BACKEND_PATH_EXISTS') || (await entry.backend.stat(path))?.kind !== 'directory') {
      throw isFilestoreError(err) && err.reason !== 'BACKEND_PATH_EXISTS'
        ? err
        : failedPrecondition('BACKEND_CONFLICT', `"${path}" is an untracked file on the backend; reconcile it before creating a directory there`);
    }
    return false;
  }
}

/**
 * Locks the parent directory of `path` (FOR SHARE, so that it cannot be moved or deleted under us),
 * creating missing ancestors when `parents` is set.
 */
export async function lockParent(
  tx: Executor,
  entry: BackendEntry,
  path: string,
  parents: boolean,
  journalId: number,
  created: CreatedDirs,
): Promise<NodeRecord> {
  const parentPath = parentOf(path);
  const parent = await nodes.findLive(tx, entry.id, parentPath, 'share');
  if (parent) {
    requireUsable(parent);
    requireKind(parent, 'DIRECTORY', `"${path}" cannot be created inside it`);
    return parent;
  }
  if (!parents) {
    throw failedPrecondition('PARENT_MISSING', `parent directory "${parentPath}" does not exist; create it first or set parents`);
  }
  let current = (await nodes.findLive(tx, entry.id, '', 'share'))!;
  for (const dir of [...ancestorsOf(path).slice(1)]) {
    const found = await nodes.findLive(tx, entry.id, dir, 'share');
    const node = found ?? (await createDirectory(tx, entry, dir, current, journalId, created)).node;
    requireUsable(node);
    requireKind(node, 'DIRECTORY', `"${path}" cannot be created below it`);
    current = node;
  }
  return current;
}

/** The directories a command may create for `path` with `parents`: every ancestor but the root. */
export function plannedParents(path: string): string[] {
  return ancestorsOf(path).slice(1);
}

/**
 * Recovery of planned directories: roll forward (give each directory that is on disk but has
 * no row its row; returns the rows made) or back (remove the ones without a row).
 */
export async function settlePlannedDirs(
  tx: Executor,
  entry: BackendEntry,
  dirs: string[],
  direction: 'forward' | 'back',
  journalId: number,
): Promise<NodeRecord[]> {
  const made: NodeRecord[] = [];
  if (direction === 'back') {
    for (const dir of [...dirs].reverse()) {
      // The parent's row locked first: a live command that is adopting the directory (its row not yet
      // committed, so not visible) holds it shared, and recovery waits until its row is visible.
      await nodes.findLive(tx, entry.id, parentOf(dir), 'update');
      // Only empty directories: a file with that name is someone else's (untracked, never ours to delete).
      if (!(await nodes.findLive(tx, entry.id, dir)) && (await entry.backend.stat(dir).catch(() => null))?.kind === 'directory') {
        await entry.backend.remove(dir).catch(() => {});
      }
    }
    return made;
  }
  for (const dir of dirs) {
    if (await nodes.findLive(tx, entry.id, dir)) continue;
    const stat = await entry.backend.stat(dir);
    if (stat?.kind !== 'directory') break;
    const parent = await nodes.findLive(tx, entry.id, parentOf(dir), 'share');
    if (!parent) break;
    const row = await nodes.insertNode(tx, { backendId: entry.id, parentId: parent.id, path: dir, name: baseName(dir), kind: 'DIRECTORY' }, journalId);
    if (row) made.push(row);
  }
  return made;
}
