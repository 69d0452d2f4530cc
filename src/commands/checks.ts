// Preconditions shared by the commands. Each throws a domain error that says what to fix.
import type { NodeRecord } from '../db/records.js';
import { aborted, failedPrecondition, invalidArgument, notFound, permissionDenied, resourceExhausted } from '../errors/domain-error.js';
import type { BackendEntry } from './services.js';

export function requireFound(node: NodeRecord | null, backendId: number, path: string, nodeId?: number): NodeRecord {
  if (!node) {
    throw nodeId
      ? notFound('NODE_NOT_FOUND', `node ${nodeId} does not exist`)
      : notFound('NODE_NOT_FOUND', `no file or directory at "${path}" on backend ${backendId}`);
  }
  if (nodeId && node.id !== nodeId) {
    throw aborted('NODE_MOVED', `node ${nodeId} is no longer at "${path}"; re-read it and retry`);
  }
  return node;
}

export function requireUsable(node: NodeRecord): NodeRecord {
  if (node.state === 'MISSING') {
    throw failedPrecondition('NODE_MISSING', `"${node.path}" is MISSING on its backend; restore it or reconcile it first`);
  }
  if (node.state === 'DELETED') throw notFound('NODE_NOT_FOUND', `node ${node.id} ("${node.path}") is deleted`);
  return node;
}

export function checkVersion(node: NodeRecord | null, expected: number | undefined): void {
  if (expected === undefined) return;
  const actual = node?.version ?? 0;
  if (actual !== expected) {
    throw aborted(
      'VERSION_MISMATCH',
      node
        ? `"${node.path}" is at version ${actual}, not the expected ${expected}; re-read it and retry`
        : `expected version ${expected}, but nothing exists at the path; re-read it and retry`,
      { actual_version: String(actual) },
    );
  }
}

export function requireKind(node: NodeRecord, kind: NodeRecord['kind'], what: string): void {
  if (node.kind !== kind) {
    const is = node.kind === 'FILE' ? 'a file' : 'a directory';
    throw failedPrecondition('KIND_MISMATCH', `"${node.path}" is ${is}; ${what}`);
  }
}

export function requireWritable(entry: BackendEntry): void {
  if (entry.readOnly) throw permissionDenied('BACKEND_READ_ONLY', `backend ${entry.id} (${entry.name}) is read-only`);
}

export function checkMetadata(metadata: Record<string, unknown> | undefined, maxBytes: number): void {
  if (!metadata) return;
  const size = Buffer.byteLength(JSON.stringify(metadata));
  if (size > maxBytes) {
    throw resourceExhausted('METADATA_TOO_LARGE', `metadata is ${size} bytes as JSON; the limit is ${maxBytes}`);
  }
}

export function requireNotRoot(path: string, what: string): void {
  if (path === '') throw invalidArgument('ROOT_NOT_ALLOWED', `the backend root cannot be ${what}`);
}
