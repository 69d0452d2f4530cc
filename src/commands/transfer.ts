// What MoveNode and CopyNode share: validating source and target, and locking both sides.
import type { Executor } from '../db/database.js';
import * as nodes from '../db/nodes-repo.js';
import type { Json, NodeRecord } from '../db/records.js';
import { alreadyExists, invalidArgument } from '../errors/domain-error.js';
import { isSameOrDescendant } from '../paths/index.js';
import { resolveAddress, validateAddress, type Address } from './addressing.js';
import { checkVersion, requireFound, requireNotRoot, requireUsable, requireWritable } from './checks.js';
import { CreatedDirs, lockParent, plannedParents } from './directories.js';
import { replayByNodeId, type CommandResult, type CommandSpec } from './journalled.js';
import type { Actor, Services } from './services.js';
import { nodeDeleted, type NewEvent } from '../events/change-events.js';

export interface TransferInput {
  backendId: number;
  path: string;
  nodeId?: number;
  targetBackendId: number;
  targetPath: string;
  overwrite: boolean;
  expectedVersion?: number;
  idempotencyKey: string;
  parents: boolean;
}

export async function transferAddresses(svc: Services, req: TransferInput, verb: 'moved' | 'copied') {
  const src = await resolveAddress(svc, req);
  // proto3 cannot tell an unset target_path from "", and the root is never a target: empty means missing.
  if (!req.targetPath) throw invalidArgument('TARGET_PATH_REQUIRED', `target_path is required: where the node is to be ${verb}`);
  const targetBackendId = req.targetBackendId || src.backendId;
  const dst = validateAddress(svc, targetBackendId, req.targetPath, 'target_path');
  requireNotRoot(src.path, verb);
  requireNotRoot(dst.path, 'a target');
  if (dst.backendId === src.backendId && isSameOrDescendant(dst.path, src.path)) {
    throw invalidArgument('TARGET_INSIDE_SOURCE', `"${src.path}" cannot be ${verb} to "${dst.path}", which is itself or lies inside it`);
  }
  requireWritable(dst.entry);
  if (verb === 'moved') requireWritable(src.entry);
  return { src, dst };
}

/** By node_id, the request means that node wherever it is: its path is not part of the params. */
/** The journal spec of a MoveNode or CopyNode. */
export function transferSpec(
  command: 'MoveNode' | 'CopyNode',
  actor: Actor,
  req: TransferInput,
  src: Address,
  dst: Address,
  plan: Json = {},
): CommandSpec {
  return {
    command,
    actor,
    idempotencyKey: req.idempotencyKey,
    backendId: src.backendId,
    path: src.path,
    targetBackendId: dst.backendId,
    targetPath: dst.path,
    nodeId: src.nodeId,
    params: transferParams(src, dst, req),
    plan: { ...plan, dirs: req.parents ? plannedParents(dst.path) : [] },
  };
}

export function transferParams(src: Pick<Address, 'backendId' | 'path' | 'nodeId'>, dst: Pick<Address, 'backendId' | 'path'>, req: TransferInput) {
  return {
    backend_id: src.backendId,
    path: src.nodeId ? null : src.path,
    node_id: src.nodeId ?? null,
    target_backend_id: dst.backendId,
    target_path: dst.path,
    overwrite: req.overwrite,
    expected_version: req.expectedVersion ?? null,
    parents: req.parents,
  };
}

/** The original result of a retried MoveNode or CopyNode that names its source by node_id (see replayByNodeId). */
export function replayTransfer(svc: Services, actor: Actor, command: 'MoveNode' | 'CopyNode', req: TransferInput): Promise<CommandResult | null> {
  return replayByNodeId(svc, actor, command, req, (backendId) =>
    transferParams({ backendId, path: '', nodeId: req.nodeId }, { backendId: req.targetBackendId || backendId, path: req.targetPath }, req),
  );
}

export interface LockedTransfer {
  node: NodeRecord;
  parent: NodeRecord;
  /** A file at the target that the transfer replaces. */
  replaced: NodeRecord | null;
}

/** Locks the target's parent (share), the source and its subtree, and the target. */
export async function lockTransfer(
  tx: Executor,
  src: Address,
  dst: Address,
  req: TransferInput,
  sourceLock: 'share' | 'update',
  journalId: number,
  created: CreatedDirs,
): Promise<LockedTransfer> {
  const parent = await lockParent(tx, dst.entry, dst.path, req.parents, journalId, created);
  const node = requireUsable(requireFound(await nodes.findLive(tx, src.backendId, src.path, sourceLock), src.backendId, src.path, src.nodeId));
  checkVersion(node, req.expectedVersion);
  if (node.kind === 'DIRECTORY') await nodes.lockDescendants(tx, src.backendId, src.path, sourceLock);
  const replaced = await nodes.findLive(tx, dst.backendId, dst.path, 'update');
  if (replaced) {
    if (!req.overwrite) throw alreadyExists('NODE_EXISTS', `"${dst.path}" already exists; set overwrite to replace a file there`);
    if (replaced.kind === 'DIRECTORY' || node.kind === 'DIRECTORY') {
      throw alreadyExists('NODE_EXISTS', `"${dst.path}" already exists and overwrite replaces a file with a file only`);
    }
  }
  return { node, parent, replaced };
}

/** A move's or copy's events: directories it created, the node it replaced (deleted), then the node itself. */
export function transferEvents(createdDirs: NewEvent[], replaced: NodeRecord | null, main: NewEvent): NewEvent[] {
  return [...createdDirs, ...(replaced ? [nodeDeleted(replaced)] : []), main];
}
