// Moves and copies between two backends (local ↔ S3, S3 ↔ S3): the bytes stream from the source
// backend through the service into the target's staging, each file checked against the sha256 and
// size its row records (the metadata is canonical) before anything becomes visible. A tree is staged
// entry by entry in path order, read page by page from the rows: memory stays flat.
import { createHash } from 'node:crypto';
import type { Backend, StagedEntry } from '../backends/backend.js';
import type { Executor } from '../db/database.js';
import * as nodes from '../db/nodes-repo.js';
import type { NodeRecord } from '../db/records.js';
import { failedPrecondition } from '../errors/domain-error.js';

const PAGE = 500;

/** Stages `node` (a file or its whole live subtree) of `source` into `target`'s staging object `key`. */
export async function stageAcross(tx: Executor, node: NodeRecord, source: Backend, target: Backend, key: string): Promise<void> {
  if (node.kind === 'FILE') {
    await target.stage(key, verified(source, node));
    return;
  }
  await target.stageTree(key, entriesBelow(tx, node, source));
}

async function* entriesBelow(tx: Executor, dir: NodeRecord, source: Backend): AsyncGenerator<StagedEntry> {
  yield { path: '', kind: 'directory' };
  const prefix = dir.path === '' ? '' : `${dir.path}/`;
  for (let after: string | null = null; ; ) {
    const page = await nodes.walkPage(tx, dir, after, PAGE, 0);
    for (const n of page) {
      const path = n.path.slice(prefix.length);
      yield n.kind === 'DIRECTORY' ? { path, kind: 'directory' } : { path, kind: 'file', content: verified(source, n) };
    }
    if (page.length < PAGE) return;
    after = page[page.length - 1]!.path;
  }
}

/** The file's bytes from its backend; fails at the end if they are not the bytes its row records. */
async function* verified(source: Backend, node: NodeRecord): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of source.read(node.path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
    yield chunk as Buffer;
  }
  const sha = hash.digest('hex');
  if (size !== node.sizeBytes || sha !== node.sha256) {
    throw failedPrecondition(
      'SOURCE_CONTENT_CHANGED',
      `"${node.path}" on backend ${node.backendId} holds ${size} bytes with sha256 ${sha}, not the ${node.sizeBytes} bytes (${node.sha256}) its node records: it changed outside the service; reconcile it, then retry`,
      { backendId: String(node.backendId), path: node.path },
    );
  }
}
