// Read-only commands: no journal, one indexed query each where possible.
import type { Readable } from 'node:stream';
import * as journal from '../db/journal-repo.js';
import * as nodes from '../db/nodes-repo.js';
import { findLiveWithRollupBatched } from '../db/node-lookups.js';
import { readRollup, rollupsRecorded, sumSubtree } from '../db/rollups-repo.js';
import type { JournalRecord, JournalStatus, NodeRecord, RollupRecord, SnapshotRecord } from '../db/records.js';
import { invalidArgument, notFound } from '../errors/domain-error.js';
import { validatePath } from '../paths/index.js';
import { resolveAddress, type AddressInput } from './addressing.js';
import { requireFound, requireKind, requireUsable } from './checks.js';
import { decodePageToken, DEFAULT_PAGE_SIZE, encodePageToken, pageSize } from './page-token.js';
import type { BackendEntry, Services } from './services.js';

export interface NodeView {
  node: NodeRecord;
  rollup?: RollupRecord;
}

export function listBackends(svc: Services): BackendEntry[] {
  return svc.backends.list();
}

async function findAddressed(svc: Services, req: AddressInput): Promise<NodeRecord> {
  const addr = await resolveAddress(svc, req);
  return requireFound(await nodes.findLive(svc.db, addr.backendId, addr.path), addr.backendId, addr.path, addr.nodeId);
}

export async function getNode(svc: Services, req: AddressInput): Promise<NodeView> {
  const addr = await resolveAddress(svc, req);
  const found = rollupsRecorded() ? await findLiveWithRollupBatched(svc.db, addr.backendId, addr.path) : null;
  if (found?.rollup) return { node: found.node, rollup: found.rollup }; // the common case: one statement
  const node = found?.node ?? requireFound(await nodes.findLive(svc.db, addr.backendId, addr.path), addr.backendId, addr.path, addr.nodeId);
  if (node.kind !== 'DIRECTORY') return { node };
  if (!rollupsRecorded()) return { node, rollup: await sumSubtree(svc.db, node) };
  // No row yet (a directory the worker has not seen): the exact sum, reported as pending.
  return { node, rollup: (await readRollup(svc.db, node)) ?? { ...(await sumSubtree(svc.db, node)), state: 'PENDING' } };
}

export async function listChildren(svc: Services, req: AddressInput & { pageSize: number; pageToken: string }) {
  const limit = pageSize(req.pageSize);
  const dir = await findAddressed(svc, req);
  requireKind(dir, 'DIRECTORY', 'read it with ReadFile');
  const after = decodePageToken<string>(req.pageToken, `children:${dir.id}`);
  const page = await nodes.listChildren(svc.db, dir, after, limit + 1);
  const more = page.length > limit;
  if (more) page.length = limit;
  return { nodes: page, nextPageToken: more ? encodePageToken(`children:${dir.id}`, page[page.length - 1].name) : '' };
}

/**
 * The live subtree below a directory, a page at a time, each with the token that resumes after it.
 * The next page is read only when the caller asks for it (backpressure).
 */
export async function walkTree(
  svc: Services,
  req: AddressInput & { resumeToken: string; maxDepth: number; batchSize: number },
): Promise<AsyncGenerator<{ nodes: NodeRecord[]; resumeToken: string }>> {
  if (req.maxDepth < 0) throw invalidArgument('MAX_DEPTH_INVALID', 'max_depth must not be negative (0: no limit)');
  const limit = pageSize(req.batchSize, DEFAULT_PAGE_SIZE, 'batch_size');
  const dir = await findAddressed(svc, req);
  requireKind(dir, 'DIRECTORY', 'read it with ReadFile');
  const scope = `walk:${dir.id}:${req.maxDepth}`;
  // The token holds the last path relative to the directory, so that a resume stays inside it even
  // after the directory moved.
  const rel = decodePageToken<unknown>(req.resumeToken, scope);
  if (rel !== null && (typeof rel !== 'string' || rel === '')) {
    throw invalidArgument('PAGE_TOKEN_INVALID', 'resume_token is not one this service issued; pass it unchanged or start over with an empty token');
  }
  const prefix = dir.path === '' ? '' : `${dir.path}/`;
  let after = rel === null ? null : `${prefix}${rel}`;
  return (async function* () {
    for (;;) {
      const page = await nodes.walkPage(svc.db, dir, after, limit, req.maxDepth);
      if (page.length === 0) return;
      after = page[page.length - 1].path;
      yield { nodes: page, resumeToken: encodePageToken(scope, after.slice(prefix.length)) };
      if (page.length < limit) return;
    }
  })();
}

export async function listNodeVersions(svc: Services, req: AddressInput & { pageSize: number; pageToken: string }) {
  const limit = pageSize(req.pageSize, 100);
  const node = req.nodeId ? await nodes.findById(svc.db, req.nodeId) : await findAddressed(svc, req);
  if (!node) throw notFound('NODE_NOT_FOUND', `node ${req.nodeId} does not exist`);
  const before = decodePageToken<number>(req.pageToken, `versions:${node.id}`);
  const page: SnapshotRecord[] = await nodes.listSnapshots(svc.db, node, before, limit + 1);
  const more = page.length > limit;
  if (more) page.length = limit;
  return { versions: page, nextPageToken: more ? encodePageToken(`versions:${node.id}`, page[page.length - 1].version) : '' };
}

export interface ReadRequest extends AddressInput {
  offset: number;
  length: number;
}

export async function openFile(svc: Services, req: ReadRequest): Promise<{ node: NodeRecord; content: Readable }> {
  if (req.offset < 0 || req.length < 0) throw invalidArgument('RANGE_INVALID', 'offset and length must not be negative');
  const node = requireUsable(await findAddressed(svc, req));
  requireKind(node, 'FILE', 'list it with ListChildren');
  if (req.offset > node.sizeBytes) {
    throw invalidArgument('RANGE_INVALID', `offset ${req.offset} is past the end of "${node.path}" (${node.sizeBytes} bytes)`);
  }
  const available = node.sizeBytes - req.offset;
  const length = req.length ? Math.min(req.length, available) : available;
  const { backend } = svc.backends.get(node.backendId);
  return { node, content: backend.read(node.path, { offset: req.offset, length, chunkSize: svc.limits.readChunkBytes }) };
}

export async function getJournalEntry(svc: Services, id: number): Promise<JournalRecord> {
  if (!id || id < 0) throw invalidArgument('JOURNAL_ID_INVALID', 'id must be a positive journal entry id');
  const entry = await journal.getEntry(svc.db, id);
  if (!entry) throw notFound('JOURNAL_ENTRY_NOT_FOUND', `journal entry ${id} does not exist`);
  return entry;
}

export interface JournalQuery {
  backendId: number;
  pathPrefix: string;
  command: string;
  status?: JournalStatus;
  since?: Date;
  until?: Date;
  pageSize: number;
  pageToken: string;
}

export async function listJournalEntries(svc: Services, q: JournalQuery) {
  const limit = pageSize(q.pageSize, 100);
  if (q.backendId) svc.backends.get(q.backendId);
  if (q.pathPrefix) validatePath(q.pathPrefix);
  if (q.since && q.until && q.since > q.until) throw invalidArgument('TIME_RANGE_INVALID', 'since must not be after until');
  const scope = `journal:${JSON.stringify([q.backendId, q.pathPrefix, q.command, q.status, q.since, q.until])}`;
  const beforeId = decodePageToken<number>(q.pageToken, scope) ?? undefined;
  const page = await journal.listEntries(svc.db, { ...q, beforeId }, limit + 1);
  const more = page.length > limit;
  if (more) page.length = limit;
  return { entries: page, nextPageToken: more ? encodePageToken(scope, page[page.length - 1].id) : '' };
}
