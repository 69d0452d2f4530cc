// The real binary end to end: every file command through a real client with the disk checked
// after each step, the journal, and a graceful SIGTERM that lets an upload in flight finish.
// Reflection and health as grpcurl sees them: reflection.test.ts.
import test from 'ava';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { JournalEntry } from '../../gen/filestore/v1/journal_service.js';
import { NodeKind, NodeState } from '../../gen/filestore/v1/node.js';
import { sha256, TestClient } from '../support/client.js';
import { makeTestEnv, spawnServer, type SpawnedServer, type TestEnv } from '../support/server.js';
import {
  content,
  contentRange,
  contentSha256,
  diskTree,
  fileSha256,
  grpcCode,
  journalAll,
  KiB,
  metadataTree,
  MiB,
  observed,
  readHashed,
  STATUS,
  statusName,
  subtree,
  treeDiff,
} from './helpers.js';

const TOKEN = 'alice-secret-token-0123456789';
const BIG = 64 * MiB;

let env: TestEnv;
let s: SpawnedServer;
let c: TestClient;
let root: string;

test.before(async () => {
  env = await makeTestEnv({ FILESTORE_TOKENS: `alice:${TOKEN}`, FILESTORE_SHUTDOWN_GRACE_MS: '60000' });
  s = await spawnServer(env.env);
  c = new TestClient(`127.0.0.1:${s.port}`, TOKEN);
  root = path.join(env.dataDir, 'data');
});

test.after.always(async () => {
  c?.close();
  await s?.kill('SIGKILL');
  await env?.cleanup();
});

/** Metadata and disk agree (paths, kinds, sizes and file hashes); returns the tree. */
async function agree(t: import('ava').ExecutionContext, label: string) {
  const [meta, disk] = await Promise.all([metadataTree(c, { hashes: true }), diskTree(root, { hashes: true })]);
  t.deepEqual(treeDiff(meta, disk), [], `${label}: the nodes and the disk disagree`);
  return meta;
}

interface Issued {
  command: string;
  path: string;
  targetPath?: string;
  params: Record<string, unknown>;
  status: number;
  journalId?: number;
}

test.serial('a directory tree from upload to recursive delete, disk and journal in step', async (t) => {
  const issued: Issued[] = [];
  const ok = (command: string, p: string, params: Record<string, unknown>, res: any, targetPath?: string) => {
    issued.push({ command, path: p, targetPath, params, status: STATUS.SUCCEEDED, journalId: Number(res.journalId) });
    t.false(res.idempotentReplay);
    return res;
  };

  // --- directories -----------------------------------------------------------------------
  const lib = ok('CreateDirectory', 'proj/src/lib', { path: 'proj/src/lib', parents: true },
    await c.fs('createDirectory', { backendId: 1, path: 'proj/src/lib', parents: true, metadata: { team: 'core' } }));
  t.is(lib.node.kind, NodeKind.NODE_KIND_DIRECTORY);
  t.deepEqual(lib.node.metadata, { team: 'core' });
  ok('CreateDirectory', 'proj/docs', { path: 'proj/docs', parents: false }, await c.fs('createDirectory', { backendId: 1, path: 'proj/docs' }));
  const dup = await t.throwsAsync(c.fs('createDirectory', { backendId: 1, path: 'proj/docs' }));
  t.is(grpcCode(dup), grpcStatus.ALREADY_EXISTS);
  issued.push({ command: 'CreateDirectory', path: 'proj/docs', params: { path: 'proj/docs' }, status: STATUS.FAILED });
  await agree(t, 'after mkdir');

  // --- uploads -----------------------------------------------------------------------------
  const small = Buffer.from('export const answer = 42;\n');
  const odd = Buffer.concat([...content('odd', 1_000_003)]);
  const files: { path: string; size: number; sha: string; upload: () => Promise<any>; header: Record<string, unknown> }[] = [
    { path: 'proj/src/main.ts', size: small.length, sha: sha256(small), header: { sha256: sha256(small) }, upload: () => c.write({ path: 'proj/src/main.ts', sha256: sha256(small) }, small) },
    { path: 'proj/src/lib/util.bin', size: odd.length, sha: sha256(odd), header: {}, upload: () => c.write({ path: 'proj/src/lib/util.bin', metadata: { kind: 'odd' } }, odd, 64 * KiB) },
    { path: 'proj/docs/empty.md', size: 0, sha: sha256(Buffer.alloc(0)), header: {}, upload: () => c.write({ path: 'proj/docs/empty.md' }, []) },
    {
      path: 'proj/data/big.bin',
      size: BIG,
      sha: contentSha256('big', BIG),
      header: { parents: true },
      upload: () => c.write({ path: 'proj/data/big.bin', parents: true }, content('big', BIG, 64 * KiB)),
    },
  ];
  for (const f of files) {
    const res = ok('WriteFile', f.path, { path: f.path, size_bytes: f.size, sha256: f.sha, ...f.header }, await f.upload());
    t.is(res.node.sizeBytes, f.size, f.path);
    t.is(res.node.sha256, f.sha, f.path);
    t.is(res.node.version, 1);
  }
  // A rewrite with overwrite bumps the version; without overwrite it is refused.
  const exists = await t.throwsAsync(c.write({ path: 'proj/src/main.ts' }, small));
  t.is(grpcCode(exists), grpcStatus.ALREADY_EXISTS);
  issued.push({ command: 'WriteFile', path: 'proj/src/main.ts', params: { overwrite: false }, status: STATUS.FAILED });
  const small2 = Buffer.from('export const answer = 43;\n');
  const rewritten = ok('WriteFile', 'proj/src/main.ts', { overwrite: true, sha256: sha256(small2) },
    await c.write({ path: 'proj/src/main.ts', overwrite: true }, small2));
  t.is(rewritten.node.version, 2);
  files[0].sha = sha256(small2);
  files[0].size = small2.length;

  const afterUpload = await agree(t, 'after uploads');
  t.is(afterUpload.get('proj/data/big.bin')?.size, BIG);
  t.is(await fileSha256(path.join(root, 'proj/data/big.bin')), files[3].sha);
  t.deepEqual(readFileSync(path.join(root, 'proj/src/main.ts')), small2);

  // --- downloads, whole and by range ---------------------------------------------------------
  for (const f of files) {
    const back = await readHashed(c, { path: f.path });
    t.is(back.size, f.size, f.path);
    t.is(back.sha256, f.sha, `${f.path} comes back byte-identical`);
    t.is(back.node.sha256, f.sha);
  }
  const ranges: [number, number][] = [
    [0, 1],
    [10 * MiB + 7, 3 * MiB + 5], // not aligned to chunks on either side
    [64 * KiB - 1, 2], // across a chunk boundary
    [BIG - 1000, 0], // length 0: to the end
    [BIG - 1000, 5000], // past the end: clamped
    [BIG, 0], // at the end: nothing
  ];
  for (const [offset, length] of ranges) {
    const got = await c.read({ path: 'proj/data/big.bin', offset, length });
    const want = length === 0 ? BIG - offset : Math.min(length, BIG - offset);
    t.is(got.data.length, want, `range ${offset}+${length}`);
    t.true(got.data.equals(contentRange('big', offset, want)), `range ${offset}+${length} has the right bytes`);
  }
  const oddRange = await c.read({ path: 'proj/src/lib/util.bin', offset: 999_000, length: 10_000 });
  t.true(oddRange.data.equals(odd.subarray(999_000)));
  const pastEnd = await t.throwsAsync(c.read({ path: 'proj/src/lib/util.bin', offset: odd.length + 1 }));
  t.is(grpcCode(pastEnd), grpcStatus.INVALID_ARGUMENT);

  // --- move a tree -----------------------------------------------------------------------------
  const srcBefore = subtree(afterUpload, 'proj/src');
  const srcNode = (await c.fs('getNode', { backendId: 1, path: 'proj/src' })).node;
  const moved = ok('MoveNode', 'proj/src', { path: 'proj/src', target_path: 'proj/source', overwrite: false },
    await c.fs('moveNode', { backendId: 1, path: 'proj/src', targetPath: 'proj/source' }), 'proj/source');
  t.is(moved.node.path, 'proj/source');
  t.is(moved.node.id, srcNode.id, 'a move keeps the node');
  t.is(moved.node.version, srcNode.version + 1);
  const afterMove = await agree(t, 'after move');
  t.false(existsSync(path.join(root, 'proj/src')));
  t.deepEqual(subtree(afterMove, 'proj/source'), srcBefore, 'the whole tree arrived, unchanged');
  t.is(subtree(afterMove, 'proj/src').size, 0);
  const movedLib = await c.fs('getNode', { backendId: 1, path: 'proj/source/lib' });
  t.is(movedLib.node.id, lib.node.id, 'a move keeps node ids');
  t.deepEqual(movedLib.node.metadata, { team: 'core' });

  // --- copy a tree -----------------------------------------------------------------------------
  const copied = ok('CopyNode', 'proj/source', { path: 'proj/source', target_path: 'backup/source', parents: true },
    await c.fs('copyNode', { backendId: 1, path: 'proj/source', targetPath: 'backup/source', parents: true }), 'backup/source');
  t.is(copied.node.path, 'backup/source');
  t.not(copied.node.id, moved.node.id);
  const afterCopy = await agree(t, 'after copy');
  t.deepEqual(subtree(afterCopy, 'backup/source'), subtree(afterCopy, 'proj/source'), 'the copy equals its source');
  t.true(afterCopy.has('backup'));
  const copyBack = await readHashed(c, { path: 'backup/source/lib/util.bin' });
  t.is(copyBack.sha256, sha256(odd));
  const copiedLib = await c.fs('getNode', { backendId: 1, path: 'backup/source/lib' });
  t.not(copiedLib.node.id, lib.node.id);
  t.deepEqual(copiedLib.node.metadata, { team: 'core' });

  // --- metadata --------------------------------------------------------------------------------
  const before = (await c.fs('getNode', { backendId: 1, path: 'proj/source/lib/util.bin' })).node;
  const merged = ok('UpdateNodeMetadata', 'proj/source/lib/util.bin', { metadata: { reviewed: true }, merge: true },
    await c.fs('updateNodeMetadata', { backendId: 1, path: 'proj/source/lib/util.bin', metadata: { reviewed: true }, merge: true }));
  t.deepEqual(merged.node.metadata, { kind: 'odd', reviewed: true });
  t.is(merged.node.version, before.version + 1, 'an update bumps the version by one');
  const replaced = ok('UpdateNodeMetadata', 'backup/source', { metadata: { frozen: 'yes' }, merge: false },
    await c.fs('updateNodeMetadata', { backendId: 1, path: 'backup/source', metadata: { frozen: 'yes' } }));
  t.deepEqual(replaced.node.metadata, { frozen: 'yes' });
  t.deepEqual((await c.fs('getNode', { backendId: 1, path: 'backup/source' })).node.metadata, { frozen: 'yes' });
  t.deepEqual((await c.fs('getNode', { backendId: 1, path: 'proj/source/lib/util.bin' })).node.metadata, { kind: 'odd', reviewed: true });

  // --- delete ------------------------------------------------------------------------------------
  const notEmpty = await t.throwsAsync(c.fs('deleteNode', { backendId: 1, path: 'proj' }));
  t.is(grpcCode(notEmpty), grpcStatus.FAILED_PRECONDITION);
  issued.push({ command: 'DeleteNode', path: 'proj', params: { recursive: false }, status: STATUS.FAILED });
  const deleted = ok('DeleteNode', 'proj', { path: 'proj', recursive: true }, await c.fs('deleteNode', { backendId: 1, path: 'proj', recursive: true }));
  t.is(deleted.node.state, NodeState.NODE_STATE_DELETED);
  const afterDelete = await agree(t, 'after delete');
  t.false(existsSync(path.join(root, 'proj')));
  t.deepEqual([...afterDelete.keys()].filter((p) => p === 'proj' || p.startsWith('proj/')), []);
  t.deepEqual(subtree(afterDelete, 'backup/source'), subtree(afterCopy, 'backup/source'), 'the copy survives the delete of its source');
  const gone = await t.throwsAsync(c.fs('getNode', { backendId: 1, path: 'proj/data/big.bin' }));
  t.is(grpcCode(gone), grpcStatus.NOT_FOUND);
  t.deepEqual(readdirSafe(path.join(root, '.filestore/staging/test')), [], 'the trash is purged after the delete');

  // --- the journal -------------------------------------------------------------------------------
  const all = await journalAll(c, {}, 1000);
  t.is(all.pages, 1);
  const chronological = [...all.entries].reverse();
  t.is(chronological.length, issued.length, `one entry per command: ${chronological.map((e) => e.command).join(', ')}`);
  chronological.forEach((e, i) => {
    const want = issued[i];
    const label = `entry ${i} (${want.command} ${want.path})`;
    t.is(e.command, want.command, label);
    t.is(e.principal, 'alice', label);
    t.is(e.status, want.status, `${label}: ${statusName(e.status)}`);
    t.is(e.backendId, 1, label);
    t.is(e.path, want.path, label);
    if (want.targetPath) t.is(e.targetPath, want.targetPath, label);
    if (want.journalId) t.is(e.id, want.journalId, label);
    t.truthy(e.params, label);
    t.like(e.params as Record<string, unknown>, { backend_id: 1, ...want.params }, `${label}: params`);
    t.truthy(e.createdAt, label);
    t.truthy(e.completedAt, label);
    if (want.status === STATUS.SUCCEEDED) {
      t.falsy(e.error, label);
      t.truthy(e.result, label);
      t.true(e.nodeId > 0, label);
    } else {
      t.truthy(e.error?.reason, `${label}: a failed entry says why`);
    }
  });
  t.true(chronological.every((e, i) => i === 0 || e.id > chronological[i - 1].id), 'ids grow');

  // Pagination: small pages give the same entries, each once, in the same order.
  const paged = await journalAll(c, {}, 3);
  t.is(paged.pages, Math.ceil(issued.length / 3));
  t.deepEqual(paged.entries.map((e) => e.id), all.entries.map((e) => e.id));

  // Filters, alone and with pagination.
  const byCommand = await journalAll(c, { command: 'WriteFile' }, 2);
  t.deepEqual(byCommand.entries.map((e) => e.id), ids(all.entries, (e) => e.command === 'WriteFile'));
  t.is(byCommand.entries.length, issued.filter((i) => i.command === 'WriteFile').length);
  const succeeded = await journalAll(c, { status: STATUS.SUCCEEDED }, 4);
  t.deepEqual(succeeded.entries.map((e) => e.id), ids(all.entries, (e) => e.status === STATUS.SUCCEEDED));
  t.is(succeeded.entries.length, issued.filter((i) => i.status === STATUS.SUCCEEDED).length);
  const failed = await journalAll(c, { status: STATUS.FAILED });
  t.deepEqual(failed.entries.map((e) => e.command).reverse(), ['CreateDirectory', 'WriteFile', 'DeleteNode']);
  t.deepEqual((await journalAll(c, { status: STATUS.PENDING })).entries, []);
  const underSource = await journalAll(c, { pathPrefix: 'proj/source' }, 1);
  t.deepEqual(
    underSource.entries.map((e) => `${e.command} ${e.path}`).reverse(),
    ['MoveNode proj/src', 'CopyNode proj/source', 'UpdateNodeMetadata proj/source/lib/util.bin'],
    'path_prefix matches the path or the target path',
  );
  const underBackup = await journalAll(c, { pathPrefix: 'backup' });
  t.deepEqual(underBackup.entries.map((e) => e.command).reverse(), ['CopyNode', 'UpdateNodeMetadata']);
  const combined = await journalAll(c, { pathPrefix: 'proj', command: 'DeleteNode', status: STATUS.SUCCEEDED }, 1);
  t.deepEqual(combined.entries.map((e) => e.id), [Number(deleted.journalId)]);
  const one = await c.js('getJournalEntry', { id: Number(moved.journalId) });
  t.is(one.entry.command, 'MoveNode');
  t.is(one.entry.targetPath, 'proj/source');
  t.is(one.entry.principal, 'alice');
});

function ids(entries: JournalEntry[], keep: (e: JournalEntry) => boolean): number[] {
  return entries.filter(keep).map((e) => e.id);
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

test.serial('SIGTERM drains: an upload in flight completes, then the process exits 0', async (t) => {
  const exited = once(s.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const SLOW = 40;
  let signalled = false;
  const chunks = observed(content('slow', SLOW * 64 * KiB, 64 * KiB), async (sent) => {
    if (!signalled && sent >= 5 * 64 * KiB) {
      signalled = true;
      s.child.kill('SIGTERM');
    }
    await sleep(40);
  });
  const res = await c.write({ path: 'slow.bin' }, chunks);
  t.true(signalled, 'SIGTERM was sent while the upload was in flight');
  t.is(res.node!.sizeBytes, SLOW * 64 * KiB);
  t.is(res.node!.sha256, contentSha256('slow', SLOW * 64 * KiB));
  const [code, signal] = await exited;
  t.is(signal, null);
  t.is(code, 0, 'graceful shutdown exits 0');
  t.true(s.output.some((l) => l.includes('"draining"') && l.includes('SIGTERM')));
  t.is(await fileSha256(path.join(root, 'slow.bin')), contentSha256('slow', SLOW * 64 * KiB), 'the upload is on disk');
});
