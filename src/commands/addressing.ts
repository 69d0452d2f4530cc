// Turns a request's (backend_id, path) or node_id into a validated address.
import * as nodesRepo from '../db/nodes-repo.js';
import { invalidArgument, notFound } from '../errors/domain-error.js';
import { validatePath } from '../paths/index.js';
import type { BackendEntry, Services } from './services.js';

export interface AddressInput {
  backendId: number;
  path: string;
  nodeId?: number;
}

export interface Address {
  entry: BackendEntry;
  backendId: number;
  path: string;
  /** Set when the request named the node by id: the node found at `path` must still be it. */
  nodeId?: number;
}

export function validateAddress(svc: Services, backendId: number, path: string, field = 'path'): Address {
  const entry = svc.backends.get(backendId);
  try {
    return { entry, backendId, path: validatePath(path, entry.backend.pathLimits) };
  } catch (err) {
    if (field !== 'path' && err instanceof Error) err.message = `${field}: ${err.message}`;
    throw err;
  }
}

export async function resolveAddress(svc: Services, req: AddressInput): Promise<Address> {
  if (req.nodeId) {
    if (req.nodeId < 0) throw invalidArgument('NODE_ID_INVALID', 'node_id must be positive');
    const node = await nodesRepo.findById(svc.db, req.nodeId);
    if (!node || node.state === 'DELETED') throw notFound('NODE_NOT_FOUND', `node ${req.nodeId} does not exist or is deleted`);
    return { entry: svc.backends.get(node.backendId), backendId: node.backendId, path: node.path, nodeId: node.id };
  }
  return validateAddress(svc, req.backendId, req.path);
}
