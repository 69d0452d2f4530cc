// SIGKILL the real server in the middle of commands, restart it on the same data directory and
// database, and check docs/architecture.md, Invariants 2: every path in its old or its new state,
// the nodes and the disk in agreement, no staging leftovers, no journal entry left PENDING.
// Kills come two ways: from outside at chosen moments, and from inside at exact points
// (FILESTORE_CRASH_AT, src/commands/crash-points.ts).
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
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

  static async create(extra: Record<string, string> = {}): Promise<Site> {
    return new Site(await makeTestEnv(extra));
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

// Random kills during MoveNode, CopyNode and recursive DeleteNode, taken over by other processes:
// test/e2e/recovery-liveness.test.ts.

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
  /** The transaction had committed before the kill: recovery finds its intent settled and resolves nothing. */
  committed?: true;
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
  {
    // Killed inside the command's transaction, its entry inserted and its intent written, before any
    // disk step (docs/decisions/006): the transaction never commits; recovery claims the intent.
    point: 'command:after-intent',
    run: (c) => c.fs('createDirectory', { backendId: 1, path: 'intent-only' }),
    command: 'CreateDirectory',
    expect: 'ROLLED_BACK',
    check: async (t, tree) => t.is(tree.get('intent-only'), undefined),
  },
  {
    // Killed after the commit, before the intent is marked done: recovery finds the entry and leaves it.
    point: 'command:after-commit',
    setup: async (c) => {
      await c.write({ path: 'after-commit.bin' }, FILE);
    },
    run: (c) => c.write({ path: 'after-commit.bin', overwrite: true }, content('crash-file-3', 200 * KiB)),
    command: 'WriteFile',
    expect: 'SUCCEEDED',
    committed: true,
    check: async (t, tree) => {
      t.deepEqual(tree.get('after-commit.bin'), { kind: 'FILE', size: 200 * KiB, sha256: contentSha256('crash-file-3', 200 * KiB) });
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
    const expectedResolution = k.expect === 'FAILED' || k.committed ? [] : [{ id: e?.id, command: k.command, status: k.expect }];
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

// --- group commit (docs/decisions/008): kills inside a batch --------------------------------------

interface GroupCrashCase {
  point: string;
  /** Every command of the batch ends so (else each by what reached the disk). */
  all?: 'SUCCEEDED' | 'ROLLED_BACK';
  /** One path of the batch is taken by an untracked file, so its disk step fails and the batch rolls back. */
  blocked?: true;
}

const groupCases: GroupCrashCase[] = [
  // Entries, rows and intents written in the batch's transaction, nothing on disk yet.
  { point: 'command:after-intent', all: 'ROLLED_BACK' },
  // The first directory of the batch made; the others on their way.
  { point: 'mkdir:after-mkdir' },
  // Every directory made and synced, the transaction not committed: recovery rolls each forward.
  { point: 'group:before-commit', all: 'SUCCEEDED' },
  // A batch-mate's disk step failed; killed after the first of the others was taken back.
  { point: 'group:during-rollback', blocked: true },
];

test.serial('group commit: killed inside a batch, each of its commands is resolved to all-old or all-new', async (t) => {
  // Commands that arrive within 300 ms of each other share a batch (src/commands/crash-points.ts).
  const site = await Site.create({ FILESTORE_TEST_GROUP_GATHER_MS: '300' });
  t.teardown(() => site.close());
  await site.start();
  const dirs = (i: number) => Array.from({ length: 5 }, (_, j) => `g${i}/d${j}`);
  for (const i of groupCases.keys()) await site.c.fs('createDirectory', { backendId: 1, path: `g${i}` });
  await consistent(t, site, 'after the setup');
  site.s.client.close();
  site.s.child.kill('SIGTERM');
  t.is((await site.exited())[0], 0, 'graceful stop');
  let previous: { i: number; before: number } | null = null;
  const settle = async () => {
    if (!previous) return;
    const { i, before } = previous;
    const k = groupCases[i];
    const label = `#${i} ${k.point}`;
    const tree = await consistent(t, site, label);
    const entries = await entriesSince(site.c, before);
    t.deepEqual(entries.map((e) => e.path).sort(), dirs(i), `${label}: one entry per command of the batch`);
    const outcome = entries.map((e) => `${e.path} ${statusName(e.status)}`).sort();
    // All-new (the directory is there and tracked) or all-old (neither), never one without the other.
    t.deepEqual(outcome, dirs(i).map((d) => `${d} ${tree.has(d) ? 'SUCCEEDED' : 'ROLLED_BACK'}`), `${label}: ${outcome.join(', ')}`);
    if (k.all) t.true(entries.every((e) => statusName(e.status) === k.all), `${label}: every command ${k.all}`);
    t.deepEqual(site.recovered().map((r) => r.id).sort(), entries.map((e) => e.id).sort(), `${label}: recovery resolved the whole batch`);
    t.log(`${label}: ${outcome.join(', ')}`);
  };
  for (const [i, k] of groupCases.entries()) {
    const label = `#${i} ${k.point}`;
    await site.start(k.point);
    await settle();
    const before = await lastJournalId(site.c);
    const blocker = path.join(site.root, dirs(i)[2]);
    if (k.blocked) await writeFile(blocker, 'untracked\n');
    const results = await Promise.allSettled(dirs(i).map((d) => site.c.fs('createDirectory', { backendId: 1, path: d })));
    t.true(results.every((r) => r.status === 'rejected' && grpcCode(r.reason) === grpcStatus.UNAVAILABLE), `${label}: every call of the batch was cut off`);
    t.deepEqual(await site.exited(), [null, 'SIGKILL'], `${label}: the process killed itself at the point`);
    if (k.blocked) await rm(blocker); // the obstacle goes: the restart must not find an untracked file
    previous = { i, before };
  }
  await site.start();
  await settle();
});
