// tests of one file can run concurrently (each test claims a top-level prefix of its own).
import { rollupsSettled } from './rollups.js';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { ExecutionContext } from 'ava';
import { sql } from 'drizzle-orm';
import { WriteFileRequest, type WriteFileHeader } from '../../gen/filestore/v1/filestore_service.js';
import { ErrorInfo } from '../../gen/google/rpc/error_details.js';
import { Status } from '../../gen/google/rpc/status.js';
import type { TestClient } from './client.js';
import type { TestServer } from './server.js';
// Observing what a call changed: the tables, the tree on disk and the journal, scoped so that

export type Row = Record<string, unknown>;

/** The ErrorInfo (reason and metadata) in a failed call's status details. */
export function errorInfo(err: ServiceError): { reason?: string; metadata: Record<string, string> } {
  const bin = err.metadata?.get('grpc-status-details-bin')[0];
  if (!bin) return { metadata: {} };
  const info = Status.decode(bin as Buffer).details.find((d) => d.typeUrl.endsWith('google.rpc.ErrorInfo'));
  if (!info) return { metadata: {} };
  const decoded = ErrorInfo.decode(info.value);
  return { reason: decoded.reason, metadata: decoded.metadata };
}

export const codeName = (code: number): string => status[code] as string;

// --- the tree on disk ---

export interface TreeOptions {
  /** Relative paths (to the listed directory) whose contents are not listed (the entry itself is). */
  opaque?: (rel: string) => boolean;
  /** Relative paths left out entirely, with their contents. */
  skip?: (rel: string) => boolean;
}

/**
 * Recursive listing of `dir` without following links, one "rel|kind|size|sha256-or-link-target" line
 * per entry, sorted. A missing `dir` lists as [].
 */
export async function listTree(dir: string, opts: TreeOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const walk = async (abs: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && rel === '') return;
      throw err;
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      if (opts.skip?.(r)) continue;
      const a = path.join(abs, name);
      const st = await lstat(a);
      if (st.isSymbolicLink()) out.push(`${r}|link|0|${await readlink(a)}`);
      else if (st.isDirectory()) {
        out.push(`${r}|dir|0|`);
        if (!opts.opaque?.(r)) await walk(a, r);
      } else if (st.isFile()) out.push(`${r}|file|${st.size}|${createHash('sha256').update(await readFile(a)).digest('hex')}`);
      else out.push(`${r}|other|0|`);
    }
  };
  await walk(dir, '');
  return out.sort();
}

// --- the tables ---

const num = (v: unknown) => (v === null || v === undefined ? v : Number(v));

export async function nodeRows(s: TestServer): Promise<Row[]> {
  const rows = await s.app.services.db.rows(
    sql`SELECT backend_id, id, parent_id, path, name, kind, state, version, size_bytes, sha256, metadata, updated_at, deleted_at
        FROM nodes ORDER BY backend_id, id`,
  );
  return rows.map((r) => ({ ...r, backend_id: num(r.backend_id), id: num(r.id), parent_id: num(r.parent_id), version: num(r.version), size_bytes: num(r.size_bytes), updated_at: String(r.updated_at), deleted_at: String(r.deleted_at) }));
}

export async function snapshotRows(s: TestServer): Promise<Row[]> {
  const rows = await s.app.services.db.rows(
    sql`SELECT backend_id, node_id, version, path, kind, state, size_bytes, sha256, journal_id FROM snapshots ORDER BY backend_id, node_id, version`,
  );
  return rows.map((r) => ({ ...r, backend_id: num(r.backend_id), node_id: num(r.node_id), version: num(r.version), size_bytes: num(r.size_bytes), journal_id: num(r.journal_id) }));
}

export async function journalRows(s: TestServer): Promise<Row[]> {
  const rows = await s.app.services.db.rows(
    sql`SELECT id, backend_id, command, status, principal, idempotency_key, idempotency_active, path, target_path, node_id, error
        FROM journal_entries ORDER BY id`,
  );
  return rows.map((r) => ({
    ...r,
    id: num(r.id),
    backend_id: num(r.backend_id),
    node_id: num(r.node_id),
    error: typeof r.error === 'string' ? JSON.parse(r.error) : r.error,
  }));
}

// --- scopes ---

/** Top-level names claimed by the tests of one file. Anything else below the root is "stray". */
export class Claims {
  private readonly prefixes = new Set<string>();

  claim(prefix: string): string {
    if (prefix.includes('/') || this.prefixes.has(prefix)) throw new Error(`prefix "${prefix}" is claimed twice`);
    this.prefixes.add(prefix);
    return prefix;
  }

  owner(p: string | null | undefined): string | null {
    if (!p) return null;
    const top = p.split('/', 1)[0];
    return this.prefixes.has(top) ? top : null;
  }
}

const under = (p: unknown, prefix: string): boolean => typeof p === 'string' && (p === prefix || p.startsWith(`${prefix}/`));

export interface World {
  nodes: Row[];
  snapshots: Row[];
  journal: Row[];
  disk: string[];
}

export interface Captured {
  own: World;
  stray: World;
  maxJournalId: number;
  probes: unknown[];
}

export interface Scope {
  s: TestServer;
  claims: Claims;
  prefix: string;
  /** The local root of backend 1 (default s.root). */
  root?: string;
  /** Paths (backend 1) whose GetNode and ListChildren answers must not change. */
  probes?: string[];
  /** The client used for the probes (default s.client). */
  client?: TestClient;
}

async function answer(fn: () => Promise<any>): Promise<unknown> {
  try {
    const res = await fn();
    const strip = (n: any) => (n?.rollup ? { ...n, rollup: { ...n.rollup, lastCalculatedAt: undefined } } : n);
    if (res.node) return { node: strip(res.node) };
    if (res.nodes) return { nodes: res.nodes.map(strip), next: res.nextPageToken };
    return res;
  } catch (err) {
    return { code: codeName((err as ServiceError).code), reason: errorInfo(err as ServiceError).reason };
  }
}

export async function capture(scope: Scope): Promise<Captured> {
  const { s, claims, prefix } = scope;
  const root = scope.root ?? s.root;
  const client = scope.client ?? s.client;
  const [nodes, snapshots, journal, tree] = await Promise.all([nodeRows(s), snapshotRows(s), journalRows(s), listTree(root, { skip: (r) => r === '.filestore', opaque: (r) => !!claims.owner(r) && !under(r, prefix) })]);
  const stray = (p: unknown) => claims.owner(p as string) === null;
  // A rollup folded between the two captures is the worker catching up on earlier commands, not a change.
  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
  const probes: unknown[] = [];
  for (const p of scope.probes ?? [prefix]) {
    probes.push(await answer(() => client.fs('getNode', { backendId: 1, path: p })));
    probes.push(await answer(() => client.fs('listChildren', { backendId: 1, path: p })));
  }
  return {
    own: {
      nodes: nodes.filter((n) => under(n.path, prefix)),
      snapshots: snapshots.filter((n) => under(n.path, prefix)),
      journal: journal.filter((e) => under(e.path, prefix) || under(e.target_path, prefix)),
      disk: tree.filter((l) => under(l.split('|', 1)[0], prefix)),
    },
    stray: {
      nodes: nodes.filter((n) => stray(n.path)),
      snapshots: snapshots.filter((n) => stray(n.path)),
      journal: journal.filter((e) => stray(e.path) && stray(e.target_path)),
      disk: tree.filter((l) => !claims.owner(l.split('|', 1)[0])),
    },
    maxJournalId: journal.reduce((m, e) => Math.max(m, e.id as number), 0),
    probes,
  };
}

export interface Refusal {
  code: number;
  reason: string;
  /** What the journal must show: no entry at all, or exactly one FAILED entry carrying the error. */
  journal: 'none' | 'failed';
}

/**
 * Runs `call`, which must fail with `want`, and checks that nothing changed: the prefix's and the
 * stray rows, snapshots and files, the probes' answers, and the journal (none or one FAILED entry).
 * Returns the error.
 */
export async function refused(t: ExecutionContext, scope: Scope, want: Refusal, call: () => Promise<unknown>): Promise<ServiceError> {
  const before = await capture(scope);
  const err = (await t.throwsAsync(call)) as ServiceError;
  if (!err) return err;
  t.is(codeName(err.code), codeName(want.code), err.message);
  t.is(errorInfo(err).reason, want.reason, err.message);
  const after = await capture(scope);
  for (const part of ['own', 'stray'] as const) {
    t.deepEqual(after[part].nodes, before[part].nodes, `${part} node rows changed`);
    t.deepEqual(after[part].snapshots, before[part].snapshots, `${part} snapshots changed`);
    t.deepEqual(after[part].disk, before[part].disk, `${part} files on disk changed`);
    t.deepEqual(after[part].journal.filter((e) => (e.id as number) <= before.maxJournalId), before[part].journal, `${part} earlier journal entries changed`);
  }
  t.deepEqual(after.probes, before.probes, 'GetNode/ListChildren answers changed');
  const added = [...after.own.journal, ...after.stray.journal].filter((e) => (e.id as number) > before.maxJournalId);
  if (want.journal === 'none') {
    t.deepEqual(added, [], 'the refusal left a journal entry');
  } else {
    t.is(added.length, 1, 'want exactly one journal entry');
    const [e] = added;
    if (e) {
      t.is(e.status, 'FAILED');
      t.false(e.idempotency_active as boolean, 'a FAILED entry must release its idempotency key');
      t.like(e.error as object, { code: codeName(want.code), reason: want.reason });
      const wire = await (scope.client ?? scope.s.client).js('getJournalEntry', { id: e.id });
      t.is(wire.entry.status, 3);
      t.like(wire.entry.error, { code: codeName(want.code), reason: want.reason });
      t.truthy(wire.entry.error.message);
    }
  }
  return err;
}

// --- raw WriteFile streams ---

/** Sends these WriteFile messages (objects, or already encoded buffers) as they are, then half-closes. */
export function rawWrite(client: TestClient, messages: ({ header?: Partial<WriteFileHeader>; chunk?: Uint8Array } | Buffer)[], metadata: Metadata = client.metadata()): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const stream = client.files.makeClientStreamRequest<Buffer, unknown>(
      '/filestore.v1.FileStoreService/WriteFile',
      (b) => b,
      (b) => b,
      metadata,
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    for (const m of messages) stream.write(Buffer.isBuffer(m) ? m : Buffer.from(WriteFileRequest.encode(WriteFileRequest.fromPartial(m as any)).finish()));
    stream.end();
  });
}

// --- database and disk agree ---

/** Live nodes of backend 1 under `prefix` as "rel|kind|size|sha256" lines, like listTree. */
export async function liveNodeLines(s: TestServer, prefix: string): Promise<string[]> {
  const rows = await nodeRows(s);
  return rows
    .filter((n) => n.backend_id === 1 && n.state !== 'DELETED' && (prefix === '' || under(n.path, prefix)) && n.path !== prefix)
    .map((n) => `${prefix === '' ? n.path : (n.path as string).slice(prefix.length + 1)}|${n.kind === 'DIRECTORY' ? 'dir' : 'file'}|${n.kind === 'DIRECTORY' ? 0 : n.size_bytes}|${n.kind === 'DIRECTORY' ? '' : n.sha256}`)
    .sort();
}

/** Checks that the nodes table and the tree on disk agree below `prefix` (both ways, sizes and hashes). */
export async function assertAgree(t: ExecutionContext, s: TestServer, prefix: string, root = s.root): Promise<void> {
  const [db, disk] = await Promise.all([liveNodeLines(s, prefix), listTree(path.join(root, prefix), { skip: (r) => prefix === '' && r === '.filestore' })]);
  t.deepEqual(disk, db, `database and disk disagree below "${prefix}"`);
}
