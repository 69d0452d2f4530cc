// SIGKILL the real server in the middle of commands, restart it on the same data directory and
// database, and check docs/architecture.md, Invariants 2: every path in its old or its new state,
// the nodes and the disk in agreement, no staging leftovers, no journal entry left PENDING.
// Kills come two ways: from outside at chosen moments, and from inside at exact points
// (FILESTORE_CRASH_AT, src/commands/crash-points.ts).
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { JournalEntry } from '../../gen/filestore/v1/journal_service.js';
import { TestClient } from '../support/client.js';
import { makeTestEnv, spawnServer, type SpawnedServer, type TestEnv } from '../support/server.js';
import {
  content,
  contentSha256,
  diskTree,
  grpcCode,
  journalAll,
  KiB,
  metadataTree,
  MiB,
  pool,
  readHashed,
  STATUS,
  statusName,
  stagingLeftovers,
  subtree,
  treeDiff,
  type Tree,
} from './helpers.js';

/** One data directory and database, served by a succession of server processes. */
class Site {
  s!: SpawnedServer;
  readonly root: string;
  private exit!: Promise<[number | null, NodeJS.Signals | null]>;

  constructor(readonly env: TestEnv) {
    this.root = path.join(env.dataDir, 'data');
  }

  static async create(): Promise<Site> {
    return new Site(await makeTestEnv());
  }

  get c(): TestClient {
    return this.s.client;
  }

  async start(crashAt?: string): Promise<SpawnedServer> {
    this.s = await spawnServer({ ...this.env.env, ...(crashAt ? { FILESTORE_CRASH_AT: crashAt } : {}) });
    const child = this.s.child;
    this.exit = child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve([child.exitCode, child.signalCode])
      : (once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>);
    return this.s;
  }

  /** SIGKILL from outside; resolves once the process is gone. */
  async kill(): Promise<void> {
    this.s.child.kill('SIGKILL');
    await this.exited();
  }

  /** How the process ended. */
  exited(): Promise<[number | null, NodeJS.Signals | null]> {
    return this.exit;
  }

  /** The recovery report the server logged at start, if it resolved anything. */
  recovered(): { id: number; command: string; status: string }[] {
    const line = this.s.output.find((l) => l.includes('recovered commands left in flight'));
    const resolved: { id: number; command: string; status: string }[] = line ? JSON.parse(line).resolved : [];
    return resolved.map(({ id, command, status }) => ({ id, command, status }));
  }

  async close(): Promise<void> {
    this.s?.client.close();
    if (this.s && this.s.child.exitCode === null && this.s.child.signalCode === null) {
      this.s.child.kill('SIGKILL');
      await this.exit;
    }
    await this.env.cleanup();
  }
}

/** The invariants after a restart; returns the metadata tree (with file hashes). */
async function consistent(t: ExecutionContext, site: Site, label: string): Promise<Tree> {
  const [meta, disk] = await Promise.all([metadataTree(site.c, { hashes: true }), diskTree(site.root, { hashes: true })]);
  t.deepEqual(treeDiff(meta, disk), [], `${label}: the nodes table and the disk disagree`);
  t.deepEqual(await stagingLeftovers(site.root), [], `${label}: staging leftovers remain`);
  const pending = await journalAll(site.c, { status: STATUS.PENDING });
  t.deepEqual(pending.entries.map((e) => `${e.id} ${e.command} ${e.path}`), [], `${label}: journal entries left PENDING`);
  return meta;
}

/** Journal entries newer than `afterId`, oldest first. */
async function entriesSince(c: TestClient, afterId: number, filter: object = {}): Promise<JournalEntry[]> {
  const { entries } = await journalAll(c, filter);
  return entries.filter((e) => e.id > afterId).reverse();
}

async function lastJournalId(c: TestClient): Promise<number> {
  const page = await c.js('listJournalEntries', { pageSize: 1 });
  return page.entries[0]?.id ?? 0;
}

// --- a tree of 1,000 small files ----------------------------------------------------------------

const DIRS = 10;
const FILES_PER_DIR = 100;

async function buildTree(c: TestClient, at: string): Promise<void> {
  await c.fs('createDirectory', { backendId: 1, path: at });
  await pool([...Array(DIRS).keys()], 4, (d) => c.fs('createDirectory', { backendId: 1, path: `${at}/d${String(d).padStart(2, '0')}` }));
  const files = [];
  for (let d = 0; d < DIRS; d++) for (let f = 0; f < FILES_PER_DIR; f++) files.push({ d, f });
  await pool(files, 16, ({ d, f }) => {
    const rel = `d${String(d).padStart(2, '0')}/f${String(f).padStart(3, '0')}.txt`;
    return c.write({ path: `${at}/${rel}` }, [...content(rel, 64 + ((d * 131 + f * 17) % 900))]);
  });
}

/** Where a tree equal to `shape` stands: at exactly one of `paths` (metadata and disk alike), or nowhere. */
function locate(t: ExecutionContext, tree: Tree, shape: Tree, paths: string[], label: string): string | null {
  const found: string[] = [];
  for (const p of paths) {
    const sub = subtree(tree, p);
    if (sub.size === 0) continue;
    t.deepEqual(treeDiff(sub, shape, 5), [], `${label}: the tree at "${p}" is incomplete or changed`);
    found.push(p);
  }
  t.true(found.length <= 1, `${label}: the tree is at ${found.join(' and ')}`);
  return found[0] ?? null;
}

// --- kills from outside -----------------------------------------------------------------------

test.serial('SIGKILL in the middle of a 64 MiB upload: old content kept, partial upload swept', async (t) => {
  const site = await Site.create();
  t.teardown(() => site.close());
  await site.start();
  const keep = Buffer.concat([...content('keep', 1 * MiB + 3)]);
  await site.c.write({ path: 'keep.bin', metadata: { v: 1 } }, keep);
  await consistent(t, site, 'before');

  const BIG = 64 * MiB;
  for (const target of ['big.bin', 'keep.bin']) {
    const label = `upload to ${target}`;
    let sent = 0;
    let killed = false;
    const chunks = (async function* () {
      for (const chunk of content(`new-${target}`, BIG, 64 * KiB)) {
        yield chunk;
        sent += chunk.length;
        if (sent >= BIG / 2) {
          killed = true;
          await site.kill();
          return;
        }
      }
    })();
    const err = await t.throwsAsync(site.c.write({ path: target, overwrite: true }, chunks), undefined, label);
    t.true(killed, label);
    t.true([grpcStatus.UNAVAILABLE, grpcStatus.CANCELLED, grpcStatus.INTERNAL].includes(grpcCode(err)!), `${label}: ${err?.message}`);
    const [, signal] = await site.exited();
    t.is(signal, 'SIGKILL');
    // The half upload sits in staging until the restart sweeps it.
    const left = await stagingLeftovers(site.root);
    t.is(left.length, 1, `${label}: one partial staging file before the restart`);
    const partial = (await stat(path.join(site.root, '.filestore/staging', left[0]))).size;
    t.true(partial > 0 && partial < BIG, `${label}: staged ${partial} bytes`);

    await site.start();
    const tree = await consistent(t, site, `${label}, after restart`);
    t.false(tree.has('big.bin'), `${label}: no trace of the interrupted new file`);
    t.deepEqual(tree.get('keep.bin'), { kind: 'FILE', size: keep.length, sha256: contentSha256('keep', keep.length) }, `${label}: keep.bin is in its old state`);
    const back = await readHashed(site.c, { path: 'keep.bin' });
    t.is(back.sha256, contentSha256('keep', keep.length));
    t.is(back.node.version, 1);
    const writes = await journalAll(site.c, { command: 'WriteFile' });
    t.true(writes.entries.every((e) => e.status === STATUS.SUCCEEDED || e.status === STATUS.ROLLED_BACK), label);
    t.log(`${label}: killed after ${sent / MiB} MiB sent, ${partial / MiB} MiB staged; journal: ${writes.entries.map((e) => statusName(e.status)).join(', ')}`);
  }
});

/** One SIGKILL per delay while `command` runs; returns per attempt what the restart found. */
interface Attempt {
  delayMs: number;
  clientSaw: 'ok' | 'error' | 'pending';
  recovered: string;
  outcome: string;
}

test.serial('SIGKILL during recursive MoveNode, DeleteNode and CopyNode of a 1,000-file tree', async (t) => {
  const site = await Site.create();
  t.teardown(() => site.close());
  await site.start();
  const started = Date.now();
  await buildTree(site.c, 'a');
  const built = await consistent(t, site, 'built');
  const shape = subtree(built, 'a');
  t.is([...shape.values()].filter((e) => e.kind === 'FILE').length, DIRS * FILES_PER_DIR);
  t.log(`built the tree in ${Date.now() - started} ms`);

  // How long each command takes uninterrupted, to spread the kills over its run.
  const timed = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const moveMs = await timed(() => site.c.fs('moveNode', { backendId: 1, path: 'a', targetPath: 'b' }));
  let at = 'b';
  const copyMs = await timed(() => site.c.fs('copyNode', { backendId: 1, path: at, targetPath: 'victim' }));
  const deleteMs = await timed(() => site.c.fs('deleteNode', { backendId: 1, path: 'victim', recursive: true }));
  t.log(`uninterrupted: move ${moveMs.toFixed(0)} ms, copy ${copyMs.toFixed(0)} ms, delete ${deleteMs.toFixed(0)} ms`);
  await consistent(t, site, 'after the timed runs');

  /** Starts `run`, SIGKILLs the server after `delayMs`, restarts, and reports. */
  const killDuring = async (run: () => Promise<unknown>, delayMs: number): Promise<{ clientSaw: Attempt['clientSaw']; recovered: string }> => {
    let clientSaw: Attempt['clientSaw'] = 'pending';
    const call = run().then(
      () => (clientSaw = 'ok'),
      () => (clientSaw = 'error'),
    );
    await sleep(delayMs);
    const saw = clientSaw;
    await site.kill();
    await call;
    await site.start();
    const recovered = site.recovered().map((r) => `${r.command}→${r.status}`).join(',') || '-';
    return { clientSaw: saw, recovered };
  };
  const delays = (ms: number, n: number) => Array.from({ length: n }, (_, i) => Math.round((ms * 1.3 * i) / (n - 1) + Math.random() * 5));

  // MoveNode back and forth between a and b.
  const moves: Attempt[] = [];
  for (const delayMs of delays(Math.max(moveMs, 60), 6)) {
    const from = at;
    const to = at === 'a' ? 'b' : 'a';
    const before = await lastJournalId(site.c);
    const { clientSaw, recovered } = await killDuring(() => site.c.fs('moveNode', { backendId: 1, path: from, targetPath: to }), delayMs);
    const label = `move ${from}→${to} killed after ${delayMs} ms`;
    const tree = await consistent(t, site, label);
    const where = locate(t, tree, shape, [from, to], label);
    t.truthy(where, `${label}: the tree is lost`);
    const entries = await entriesSince(site.c, before, { command: 'MoveNode' });
    t.true(entries.length <= 1, label);
    if (where === to) t.is(entries[0]?.status, STATUS.SUCCEEDED, `${label}: moved, so its entry succeeded`);
    else t.true(entries.length === 0 || entries[0].status === STATUS.ROLLED_BACK, `${label}: not moved, so its entry (if any) rolled back`);
    if (clientSaw === 'ok') t.is(where, to, `${label}: the client was told it succeeded`);
    moves.push({ delayMs, clientSaw, recovered, outcome: where === to ? 'moved' : entries.length ? 'rolled back' : 'never started' });
    at = where ?? at;
  }
  t.log('move attempts', moves);

  // CopyNode of the tree, each attempt to a fresh target.
  const copies: Attempt[] = [];
  let n = 0;
  for (const delayMs of delays(Math.max(copyMs, 60), 5)) {
    const target = `copy${n++}`;
    const before = await lastJournalId(site.c);
    const { clientSaw, recovered } = await killDuring(() => site.c.fs('copyNode', { backendId: 1, path: at, targetPath: target }), delayMs);
    const label = `copy ${at}→${target} killed after ${delayMs} ms`;
    const tree = await consistent(t, site, label);
    t.is(locate(t, tree, shape, [at], label), at, `${label}: the source is intact`);
    const where = locate(t, tree, shape, [target], label);
    const entries = await entriesSince(site.c, before, { command: 'CopyNode' });
    if (where) t.is(entries[0]?.status, STATUS.SUCCEEDED, `${label}: copied, so its entry succeeded`);
    else t.true(entries.length === 0 || entries[0].status === STATUS.ROLLED_BACK, `${label}: not copied, so its entry (if any) rolled back`);
    if (clientSaw === 'ok') t.truthy(where, `${label}: the client was told it succeeded`);
    copies.push({ delayMs, clientSaw, recovered, outcome: where ? 'copied' : entries.length ? 'rolled back' : 'never started' });
    if (where) await site.c.fs('deleteNode', { backendId: 1, path: target, recursive: true });
  }
  t.log('copy attempts', copies);

  // DeleteNode of a fresh copy each time.
  const deletes: Attempt[] = [];
  // The delete commits early (purging the trash comes after): kill within its first half.
  for (const delayMs of delays(Math.max(deleteMs / 2, 60), 5)) {
    await site.c.fs('copyNode', { backendId: 1, path: at, targetPath: 'victim' });
    const before = await lastJournalId(site.c);
    const { clientSaw, recovered } = await killDuring(() => site.c.fs('deleteNode', { backendId: 1, path: 'victim', recursive: true }), delayMs);
    const label = `delete victim killed after ${delayMs} ms`;
    const tree = await consistent(t, site, label);
    t.is(locate(t, tree, shape, [at], label), at, `${label}: the original is intact`);
    const where = locate(t, tree, shape, ['victim'], label);
    const entries = await entriesSince(site.c, before, { command: 'DeleteNode' });
    if (!where) t.is(entries[0]?.status, STATUS.SUCCEEDED, `${label}: deleted, so its entry succeeded`);
    else t.true(entries.length === 0 || entries[0].status === STATUS.ROLLED_BACK, `${label}: not deleted, so its entry (if any) rolled back`);
    if (clientSaw === 'ok') t.falsy(where, `${label}: the client was told it succeeded`);
    deletes.push({ delayMs, clientSaw, recovered, outcome: where ? (entries.length ? 'rolled back' : 'never started') : 'deleted' });
    if (where) await site.c.fs('deleteNode', { backendId: 1, path: 'victim', recursive: true });
  }
  t.log('delete attempts', deletes);
  await consistent(t, site, 'at the end');
});

// --- kills from inside, at exact points ---------------------------------------------------------

interface CrashCase {
  point: string;
  /** Sets the scene (on a server that will not crash). */
  setup?: (c: TestClient) => Promise<void>;
  /** The command that reaches the crash point. */
  run: (c: TestClient) => Promise<unknown>;
  command: string;
  /** FAILED: the refusal was recorded before the kill, so recovery has nothing to resolve. */
  expect: 'SUCCEEDED' | 'ROLLED_BACK' | 'FAILED';
  /** What the restart must show. */
  check: (t: ExecutionContext, tree: Tree, c: TestClient) => Promise<unknown>;
}

const FILE = Buffer.concat([...content('crash-file', 700 * KiB + 11)]);
const FILE_SHA = contentSha256('crash-file', FILE.length);
const FILE2_SHA = contentSha256('crash-file-2', 300 * KiB);

async function smallTree(c: TestClient, at: string): Promise<void> {
  await c.fs('createDirectory', { backendId: 1, path: `${at}/x/y`, parents: true });
  for (const p of ['one.txt', 'x/two.txt', 'x/y/three.txt']) await c.write({ path: `${at}/${p}` }, Buffer.from(`${at}/${p}\n`));
}

const cases: CrashCase[] = [
  {
    point: 'mkdir:after-mkdir',
    run: (c) => c.fs('createDirectory', { backendId: 1, path: 'made', metadata: { m: 1 } }),
    command: 'CreateDirectory',
    expect: 'SUCCEEDED',
    check: async (t, tree) => t.deepEqual(tree.get('made'), { kind: 'DIRECTORY', size: 0 }),
  },
  {
    // The first of three directories is made, then the kill: the command did not reach its target.
    point: 'mkdir:after-mkdir',
    run: (c) => c.fs('createDirectory', { backendId: 1, path: 'p/q/r', parents: true }),
    command: 'CreateDirectory',
    expect: 'ROLLED_BACK',
    check: async (t, tree) => t.false(tree.has('p'), 'the parent made before the kill is removed again'),
  },
  {
    point: 'write:before-publish',
    run: (c) => c.write({ path: 'unpublished.bin' }, FILE),
    command: 'WriteFile',
    expect: 'ROLLED_BACK',
    check: async (t, tree) => t.false(tree.has('unpublished.bin')),
  },
  {
    point: 'write:after-publish',
    run: (c) => c.write({ path: 'w/deep/published.bin', parents: true, metadata: { a: 'b' } }, FILE),
    command: 'WriteFile',
    expect: 'SUCCEEDED',
    check: async (t, tree, c) => {
      t.deepEqual(tree.get('w/deep/published.bin'), { kind: 'FILE', size: FILE.length, sha256: FILE_SHA });
      t.deepEqual(tree.get('w/deep'), { kind: 'DIRECTORY', size: 0 }, 'the parents made on the way are rolled forward too');
      const back = await readHashed(c, { path: 'w/deep/published.bin' });
      t.is(back.sha256, FILE_SHA);
      t.deepEqual(back.node.metadata, { a: 'b' });
    },
  },
  {
    point: 'write:after-publish',
    setup: async (c) => {
      await c.write({ path: 'over.bin' }, FILE);
    },
    run: (c) => c.write({ path: 'over.bin', overwrite: true }, content('crash-file-2', 300 * KiB)),
    command: 'WriteFile',
    expect: 'SUCCEEDED',
    check: async (t, tree, c) => {
      t.deepEqual(tree.get('over.bin'), { kind: 'FILE', size: 300 * KiB, sha256: FILE2_SHA });
      const node = (await c.fs('getNode', { backendId: 1, path: 'over.bin' })).node;
      t.is(node.version, 2, 'an overwrite rolled forward is a new version');
      const versions = await c.fs('listNodeVersions', { backendId: 1, path: 'over.bin' });
      t.deepEqual(versions.versions.map((v: { version: number }) => v.version), [2, 1]);
    },
  },
  {
    point: 'copy:after-stage',
    setup: (c) => smallTree(c, 'cs'),
    run: (c) => c.fs('copyNode', { backendId: 1, path: 'cs', targetPath: 'cs-copy' }),
    command: 'CopyNode',
    expect: 'ROLLED_BACK',
    check: async (t, tree) => {
      t.false(tree.has('cs-copy'));
      t.is(subtree(tree, 'cs').size, 6);
    },
  },
  {
    point: 'copy:after-publish',
    setup: (c) => smallTree(c, 'cp'),
    run: (c) => c.fs('copyNode', { backendId: 1, path: 'cp', targetPath: 'cp-copy/inner', parents: true }),
    command: 'CopyNode',
    expect: 'SUCCEEDED',
    check: async (t, tree) => {
      t.is(subtree(tree, 'cp').size, 6);
      const copy = subtree(tree, 'cp-copy/inner');
      t.is(copy.size, 6);
      // Same shape and content, different paths inside the files.
      t.deepEqual([...copy.keys()].sort(), [...subtree(tree, 'cp').keys()].sort());
    },
  },
  {
    point: 'move:after-rename',
    setup: (c) => smallTree(c, 'mv'),
    run: (c) => c.fs('moveNode', { backendId: 1, path: 'mv', targetPath: 'mv-moved' }),
    command: 'MoveNode',
    expect: 'SUCCEEDED',
    check: async (t, tree, c) => {
      t.is(subtree(tree, 'mv').size, 0);
      t.is(subtree(tree, 'mv-moved').size, 6);
      const back = await c.read({ path: 'mv-moved/x/y/three.txt' });
      t.is(back.data.toString(), 'mv/x/y/three.txt\n');
    },
  },
  {
    point: 'move:after-rename',
    setup: async (c) => {
      await c.write({ path: 'mfile-src' }, FILE);
      await c.write({ path: 'mfile-dst' }, Buffer.from('replaced'));
    },
    run: (c) => c.fs('moveNode', { backendId: 1, path: 'mfile-src', targetPath: 'mfile-dst', overwrite: true }),
    command: 'MoveNode',
    expect: 'SUCCEEDED',
    check: async (t, tree) => {
      t.false(tree.has('mfile-src'));
      t.deepEqual(tree.get('mfile-dst'), { kind: 'FILE', size: FILE.length, sha256: FILE_SHA });
    },
  },
  {
    point: 'delete:after-unpublish',
    setup: (c) => smallTree(c, 'del'),
    run: (c) => c.fs('deleteNode', { backendId: 1, path: 'del', recursive: true }),
    command: 'DeleteNode',
    expect: 'SUCCEEDED',
    check: async (t, tree, c) => {
      t.is(subtree(tree, 'del').size, 0);
      const gone = await t.throwsAsync(c.fs('getNode', { backendId: 1, path: 'del/x' }));
      t.is(grpcCode(gone), grpcStatus.NOT_FOUND);
    },
  },
  {
    // Refused (stale expected_version) after its entry was written: the staged upload is discarded,
    // then the kill, before the entry is marked FAILED. The old file must stay as it was.
    point: 'refused:after-fail',
    setup: async (c) => {
      await c.write({ path: 'stale.bin' }, FILE);
    },
    run: (c) => c.write({ path: 'stale.bin', expectedVersion: 7 }, content('crash-file-2', 300 * KiB)),
    command: 'WriteFile',
    expect: 'FAILED',
    check: async (t, tree, c) => {
      t.deepEqual(tree.get('stale.bin'), { kind: 'FILE', size: FILE.length, sha256: FILE_SHA });
      t.is((await c.fs('getNode', { backendId: 1, path: 'stale.bin' })).node.version, 1);
    },
  },
  {
    // Refused (a directory at the target), then killed before FAILED: the restart must still come up.
    point: 'refused:after-fail',
    setup: async (c) => {
      await c.write({ path: 'cfile' }, FILE);
      await c.fs('createDirectory', { backendId: 1, path: 'cdir' });
    },
    run: (c) => c.fs('copyNode', { backendId: 1, path: 'cfile', targetPath: 'cdir' }),
    command: 'CopyNode',
    expect: 'FAILED',
    check: async (t, tree) => {
      t.deepEqual(tree.get('cdir'), { kind: 'DIRECTORY', size: 0 });
      t.deepEqual(tree.get('cfile'), { kind: 'FILE', size: FILE.length, sha256: FILE_SHA });
    },
  },
  {
    // Refused (a file at the target, no overwrite), then killed before FAILED: nothing moves.
    point: 'refused:after-fail',
    setup: async (c) => {
      await c.write({ path: 'mv-a' }, Buffer.from('a'));
      await c.write({ path: 'mv-b' }, Buffer.from('bb'));
    },
    run: (c) => c.fs('moveNode', { backendId: 1, path: 'mv-a', targetPath: 'mv-b' }),
    command: 'MoveNode',
    expect: 'FAILED',
    check: async (t, tree) => {
      t.like(tree.get('mv-a'), { kind: 'FILE', size: 1 });
      t.like(tree.get('mv-b'), { kind: 'FILE', size: 2 });
    },
  },
];

test.serial('FILESTORE_CRASH_AT: killed right after the disk step, each command is resolved on restart', async (t) => {
  const site = await Site.create();
  t.teardown(() => site.close());
  await site.start();
  // Every scene first, on a server that does not crash; then one armed server per case, each of
  // which also recovers (and is used to check) the case before it.
  for (const k of cases) await k.setup?.(site.c);
  await consistent(t, site, 'after the setups');
  const seen: string[] = [];
  let previous: { k: CrashCase; label: string; before: number } | null = null;
  const settle = async () => {
    if (!previous) return;
    const { k, label, before } = previous;
    const resolved = site.recovered();
    const tree = await consistent(t, site, label);
    const entries = await entriesSince(site.c, before);
    t.is(entries.length, 1, `${label}: one journal entry`);
    const e = entries[0];
    t.is(e?.command, k.command, label);
    t.is(statusName(e?.status), k.expect, label);
    const expectedResolution = k.expect === 'FAILED' ? [] : [{ id: e?.id, command: k.command, status: k.expect }];
    t.deepEqual(resolved, expectedResolution, `${label}: recovery resolved what was left in flight`);
    if (k.expect === 'SUCCEEDED') t.truthy(e?.result, `${label}: a rolled-forward entry carries its result`);
    else t.falsy(e?.result, label);
    await k.check(t, tree, site.c);
    seen.push(`${label}: ${statusName(e?.status)}`);
  };
  site.s.client.close();
  site.s.child.kill('SIGTERM');
  t.is((await site.exited())[0], 0, 'graceful stop');
  for (const [i, k] of cases.entries()) {
    const label = `#${i} ${k.point} ${k.command} (expect ${k.expect})`;
    await site.start(k.point);
    await settle();
    const before = await lastJournalId(site.c);
    const err = await t.throwsAsync(k.run(site.c), undefined, label);
    t.is(grpcCode(err), grpcStatus.UNAVAILABLE, `${label}: ${err?.message}`);
    const [code, signal] = await site.exited();
    t.deepEqual([code, signal], [null, 'SIGKILL'], `${label}: the process killed itself at the point`);
    previous = { k, label, before };
  }
  await site.start();
  await settle();
  t.log(seen);
});
