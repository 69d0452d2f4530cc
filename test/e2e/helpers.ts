// Shared by the end-to-end tests: deterministic content streams, streaming download,
// and the checks that compare the metadata with what is on disk.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceError } from '@grpc/grpc-js';
import { ReadFileRequest } from '../../gen/filestore/v1/filestore_service.js';
import { JournalStatus, type JournalEntry } from '../../gen/filestore/v1/journal_service.js';
import { NodeKind, type Node } from '../../gen/filestore/v1/node.js';
import type { TestClient } from '../support/client.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

// --- deterministic content -------------------------------------------------------------

/**
 * A deterministic byte stream: AES-128-CTR over zeros, keyed by `seed`. Fast (GB/s), needs no
 * memory beyond one chunk, and any range can be produced on its own (see `contentRange`).
 */
function cipherAt(seed: string, offset: number) {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  // 128-bit big-endian block counter: the low 64 bits are enough for any file here.
  iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const skip = offset % 16;
  if (skip) cipher.update(Buffer.alloc(skip));
  return cipher;
}

const ZEROS = Buffer.alloc(1 * MiB);

/** Yields `size` bytes of the content for `seed` in chunks of `chunkSize`; each chunk is a fresh buffer. */
export function* content(seed: string, size: number, chunkSize = 64 * KiB): Generator<Buffer> {
  if (chunkSize > ZEROS.length) throw new Error('chunkSize too large');
  const cipher = cipherAt(seed, 0);
  for (let sent = 0; sent < size; sent += chunkSize) {
    yield cipher.update(ZEROS.subarray(0, Math.min(chunkSize, size - sent)));
  }
}

/** Bytes [offset, offset + length) of the content for `seed`. */
export function contentRange(seed: string, offset: number, length: number): Buffer {
  return cipherAt(seed, offset).update(Buffer.alloc(length));
}

/** sha256 of the content for `seed`, computed by streaming it. */
export function contentSha256(seed: string, size: number): string {
  const hash = createHash('sha256');
  for (const chunk of content(seed, size, 1 * MiB)) hash.update(chunk);
  return hash.digest('hex');
}

/** Wraps a chunk source: counts the bytes handed out and lets a hook run after each chunk. */
export async function* observed(
  chunks: Iterable<Buffer>,
  onChunk: (sent: number) => void | Promise<void>,
): AsyncGenerator<Buffer> {
  let sent = 0;
  for (const chunk of chunks) {
    yield chunk;
    sent += chunk.length;
    await onChunk(sent);
  }
}

// --- downloads ---------------------------------------------------------------------------

/** Downloads a file (or a range) streaming: only its size, its sha256 and the node are kept. */
export async function readHashed(c: TestClient, req: object): Promise<{ node: Node; size: number; sha256: string; chunks: number }> {
  const stream = c.files.readFile(ReadFileRequest.fromPartial({ backendId: 1, ...req }), c.metadata());
  const hash = createHash('sha256');
  let node: Node | undefined;
  let size = 0;
  let chunks = 0;
  for await (const msg of stream) {
    if (msg.node) node = msg.node;
    else if (msg.chunk) {
      hash.update(msg.chunk);
      size += msg.chunk.length;
      chunks++;
    }
  }
  return { node: node!, size, sha256: hash.digest('hex'), chunks };
}

export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// --- metadata against disk ------------------------------------------------------------------

export interface Entry {
  kind: 'FILE' | 'DIRECTORY';
  size: number;
  sha256?: string;
}

export type Tree = Map<string, Entry>;

/** Everything under the backend root except the reserved `.filestore` directory; the root itself is left out. */
export async function diskTree(root: string, opts: { hashes?: boolean } = {}): Promise<Tree> {
  const tree: Tree = new Map();
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      if (rel === '' && e.name === '.filestore') continue;
      const p = rel ? `${rel}/${e.name}` : e.name;
      const abs = path.join(root, p);
      if (e.isDirectory()) {
        tree.set(p, { kind: 'DIRECTORY', size: 0 });
        await walk(p);
      } else if (e.isFile()) {
        const st = await lstat(abs);
        tree.set(p, { kind: 'FILE', size: st.size, ...(opts.hashes ? { sha256: await fileSha256(abs) } : {}) });
      } else {
        throw new Error(`unexpected entry on disk: ${abs}`);
      }
    }
  };
  await walk('');
  return tree;
}

/** Every live node below the root, by a recursive ListChildren walk (paginated). */
export async function metadataTree(c: TestClient, opts: { hashes?: boolean; pageSize?: number } = {}): Promise<Tree> {
  const tree: Tree = new Map();
  const walk = async (dir: string): Promise<void> => {
    let pageToken = '';
    do {
      const page = await c.fs('listChildren', { backendId: 1, path: dir, pageSize: opts.pageSize ?? 400, pageToken });
      for (const n of page.nodes as Node[]) {
        const kind = n.kind === NodeKind.NODE_KIND_DIRECTORY ? 'DIRECTORY' : 'FILE';
        tree.set(n.path, { kind, size: kind === 'FILE' ? n.sizeBytes : 0, ...(opts.hashes && kind === 'FILE' ? { sha256: n.sha256 } : {}) });
        if (kind === 'DIRECTORY') await walk(n.path);
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
  };
  await walk('');
  return tree;
}

/** Paths where the two trees differ, with both sides; empty when they agree. */
export function treeDiff(a: Tree, b: Tree, limit = 20): string[] {
  const out: string[] = [];
  for (const p of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(p);
    const y = b.get(p);
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${p}: metadata=${JSON.stringify(x)} disk=${JSON.stringify(y)}`);
    if (out.length >= limit) break;
  }
  return out.sort();
}

/** Paths in `tree` at or below `prefix`, relative to it ('' for the prefix itself). */
export function subtree(tree: Tree, prefix: string): Tree {
  const out: Tree = new Map();
  for (const [p, e] of tree) {
    if (p === prefix) out.set('', e);
    else if (p.startsWith(`${prefix}/`)) out.set(p.slice(prefix.length + 1), e);
  }
  return out;
}

/** Files and directories left in the staging areas (the per-instance directories themselves excluded). */
export async function stagingLeftovers(root: string): Promise<string[]> {
  const staging = path.join(root, '.filestore', 'staging');
  const out: string[] = [];
  let instances: string[];
  try {
    instances = await readdir(staging);
  } catch {
    return out;
  }
  for (const instance of instances) {
    for (const name of await readdir(path.join(staging, instance))) out.push(`${instance}/${name}`);
  }
  return out;
}

// --- journal ---------------------------------------------------------------------------------

/** Every journal entry matching `filter`, newest first, following next_page_token. */
export async function journalAll(c: TestClient, filter: object = {}, pageSize = 100): Promise<{ entries: JournalEntry[]; pages: number }> {
  const entries: JournalEntry[] = [];
  let pageToken = '';
  let pages = 0;
  do {
    const page = await c.js('listJournalEntries', { ...filter, pageSize, pageToken });
    entries.push(...page.entries);
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken);
  return { entries, pages };
}

export const STATUS = {
  PENDING: JournalStatus.JOURNAL_STATUS_PENDING,
  SUCCEEDED: JournalStatus.JOURNAL_STATUS_SUCCEEDED,
  FAILED: JournalStatus.JOURNAL_STATUS_FAILED,
  ROLLED_BACK: JournalStatus.JOURNAL_STATUS_ROLLED_BACK,
} as const;

export function statusName(s: JournalStatus): string {
  return (Object.keys(STATUS) as (keyof typeof STATUS)[]).find((k) => STATUS[k] === s) ?? `UNKNOWN(${s})`;
}

// --- misc ------------------------------------------------------------------------------------

/** Runs `task` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, task: (item: T, i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await task(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function grpcCode(err: unknown): number | undefined {
  return (err as ServiceError)?.code;
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Peak and current RSS of a process, in MiB, from /proc/<pid>/status. */
export async function memoryOf(pid: number): Promise<{ rssMiB: number; hwmMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]) / 1024;
  };
  return { rssMiB: kb('VmRSS'), hwmMiB: kb('VmHWM') };
}
