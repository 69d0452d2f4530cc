// docs/architecture.md, Invariants 1 and 4, under concurrency: commands racing on one path never both
// succeed unless both may, the loser gets the documented status, and the nodes table and the tree on
// disk agree afterwards (support/observe.ts assertAgree: every live row's path exists on disk with its
// kind, size and hash, and every entry on disk has its row).
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { sha256 } from '../support/client.js';
import { assertAgree, codeName, errorInfo, journalRows, nodeRows } from '../support/observe.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
});
test.after('the whole tree agrees with the table and no staging is left over', async (t) => {
  await assertAgree(t, s, '');
  t.deepEqual(await readdir(path.join(s.root, '.filestore', 'staging', 'test')), []);
});
test.after.always(async () => s?.close());

const N = 20;

type Outcome = { ok: true; value: any } | { ok: false; code: string; reason?: string; message: string };

async function outcomes(calls: (() => Promise<any>)[]): Promise<Outcome[]> {
  const settled = await Promise.allSettled(calls.map((c) => c()));
  return settled.map((r) =>
    r.status === 'fulfilled'
      ? { ok: true, value: r.value }
      : { ok: false, code: codeName((r.reason as ServiceError).code), reason: errorInfo(r.reason as ServiceError).reason, message: (r.reason as Error).message },
  );
}

/** Exactly one call succeeded and every other failed with `code`/`reason`; returns the winner's index. */
function oneWinner(t: ExecutionContext, results: Outcome[], code: string, reasons: string[]): number {
  const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
  t.is(winners.length, 1, `exactly one must succeed, got ${winners.length}`);
  for (const r of results) {
    if (!r.ok) {
      t.is(r.code, code, r.message);
      t.true(reasons.includes(r.reason!), `${r.reason}: ${r.message}`);
    }
  }
  return winners[0];
}

async function entriesFor(p: string, command: string) {
  return (await journalRows(s)).filter((e) => e.path === p && e.command === command);
}

test(`${N} concurrent WriteFile calls with one expected_version: one wins, the others are ABORTED`, async (t) => {
  const p = 'cw/f';
  const base = await s.client.write({ path: p, parents: true }, Buffer.from('base'));
  t.is(base.node!.version, 1);
  const payloads = Array.from({ length: N }, (_, i) => randomBytes(40_000 + i));
  const results = await outcomes(payloads.map((data) => () => s.client.write({ path: p, expectedVersion: 1 }, data, 8 * 1024)));
  const w = oneWinner(t, results, 'ABORTED', ['VERSION_MISMATCH']);
  const winner = payloads[w];
  const res = (results[w] as { value: any }).value;
  t.is(res.node.version, 2);
  t.is(res.node.sha256, sha256(winner));
  t.deepEqual(await readFile(path.join(s.root, p)), winner);
  const back = await s.client.read({ path: p });
  t.true(back.data.equals(winner));
  t.is(back.node.version, 2);
  const versions = await s.client.fs('listNodeVersions', { backendId: 1, path: p });
  t.deepEqual(versions.versions.map((v: any) => [v.version, v.sha256]), [
    [2, sha256(winner)],
    [1, sha256(Buffer.from('base'))],
  ]);
  const entries = await entriesFor(p, 'WriteFile');
  t.is(entries.filter((e) => e.status === 'SUCCEEDED').length, 2);
  t.is(entries.filter((e) => e.status === 'FAILED').length, N - 1);
  t.true(entries.filter((e) => e.status === 'FAILED').every((e) => (e.error as any).reason === 'VERSION_MISMATCH'));
  await assertAgree(t, s, 'cw');
});

test(`${N} concurrent creators of one new file without overwrite: one succeeds, the others ALREADY_EXISTS`, async (t) => {
  await s.client.fs('createDirectory', { backendId: 1, path: 'cf' });
  const payloads = Array.from({ length: N }, (_, i) => randomBytes(30_000 + i));
  const results = await outcomes(payloads.map((data) => () => s.client.write({ path: 'cf/new' }, data, 8 * 1024)));
  const w = oneWinner(t, results, 'ALREADY_EXISTS', ['NODE_EXISTS']);
  t.deepEqual(await readFile(path.join(s.root, 'cf/new')), payloads[w]);
  const node = await s.client.fs('getNode', { backendId: 1, path: 'cf/new' });
  t.is(node.node.version, 1);
  t.is(node.node.sha256, sha256(payloads[w]));
  const entries = await entriesFor('cf/new', 'WriteFile');
  t.deepEqual(entries.map((e) => e.status).sort(), ['SUCCEEDED', ...Array(N - 1).fill('FAILED')].sort());
  await assertAgree(t, s, 'cf');
});

test(`${N} concurrent CreateDirectory calls of one new path without parents: one succeeds, the others ALREADY_EXISTS`, async (t) => {
  await s.client.fs('createDirectory', { backendId: 1, path: 'cd' });
  const results = await outcomes(Array.from({ length: N }, (_, i) => () => s.client.fs('createDirectory', { backendId: 1, path: 'cd/new', metadata: { i } })));
  const w = oneWinner(t, results, 'ALREADY_EXISTS', ['NODE_EXISTS']);
  const node = await s.client.fs('getNode', { backendId: 1, path: 'cd/new' });
  t.is(node.node.version, 1);
  t.deepEqual(node.node.metadata, { i: w });
  const versions = await s.client.fs('listNodeVersions', { backendId: 1, path: 'cd/new' });
  t.is(versions.versions.length, 1);
  const entries = await entriesFor('cd/new', 'CreateDirectory');
  t.is(entries.filter((e) => e.status === 'SUCCEEDED').length, 1);
  await assertAgree(t, s, 'cd');
});

test(`${N} concurrent overwriting writers of one new path all succeed, one version each, and the last one is on disk`, async (t) => {
  await s.client.fs('createDirectory', { backendId: 1, path: 'co' });
  const payloads = Array.from({ length: N }, (_, i) => randomBytes(20_000 + i));
  const results = await outcomes(payloads.map((data) => () => s.client.write({ path: 'co/f', overwrite: true }, data, 4 * 1024)));
  for (const r of results) t.true(r.ok, r.ok ? '' : r.message);
  const versions = results.map((r) => (r as { value: any }).value.node.version).sort((a, b) => a - b);
  t.deepEqual(versions, Array.from({ length: N }, (_, i) => i + 1));
  const last = results.findIndex((r) => (r as { value: any }).value.node.version === N);
  t.deepEqual(await readFile(path.join(s.root, 'co/f')), payloads[last]);
  const node = await s.client.fs('getNode', { backendId: 1, path: 'co/f' });
  t.is(node.node.sha256, sha256(payloads[last]));
  await assertAgree(t, s, 'co');
});

test('overwrites, deletes and metadata updates racing on one file leave the table and the disk agreeing', async (t) => {
  await s.client.write({ path: 'mx/f', parents: true }, Buffer.from('start'));
  for (let round = 0; round < 3; round++) {
    const calls = Array.from({ length: N }, (_, i) => {
      if (i % 4 === 1) return () => s.client.fs('deleteNode', { backendId: 1, path: 'mx/f' });
      if (i % 4 === 3) return () => s.client.fs('updateNodeMetadata', { backendId: 1, path: 'mx/f', metadata: { i }, merge: true });
      return () => s.client.write({ path: 'mx/f', overwrite: true }, randomBytes(10_000 + i), 2048);
    });
    const results = await outcomes(calls);
    for (const [i, r] of results.entries()) {
      if (i % 4 === 0 || i % 4 === 2) t.true(r.ok, r.ok ? '' : r.message);
      else if (!r.ok) t.deepEqual([r.code, r.reason], ['NOT_FOUND', 'NODE_NOT_FOUND'], r.message);
    }
    await assertAgree(t, s, 'mx');
  }
});

test('concurrent mkdir -p of overlapping trees all succeed and leave one consistent tree', async (t) => {
  const leaves = ['a/b/c/d', 'a/b/c/e', 'a/b/f', 'a/g/h', 'a/g/h/i/j', 'a/b', 'a', 'k/l/m', 'k/l', 'k/n/o/p', 'a/b/c', 'a/g'];
  const paths = [...leaves, ...leaves].map((p) => `mk/${p}`);
  const results = await outcomes(paths.map((p) => () => s.client.fs('createDirectory', { backendId: 1, path: p, parents: true })));
  for (const [i, r] of results.entries()) t.true(r.ok, `${paths[i]}: ${r.ok ? '' : r.message}`);
  const rows = (await nodeRows(s)).filter((n) => n.state !== 'DELETED' && ((n.path as string) === 'mk' || (n.path as string).startsWith('mk/')));
  const byPath = new Map(rows.map((n) => [n.path as string, n]));
  t.is(byPath.size, rows.length, 'one live row per path');
  const expected = new Set<string>();
  for (const p of paths) for (let q = p; q.includes('/'); q = q.slice(0, q.lastIndexOf('/'))) expected.add(q);
  expected.add('mk');
  t.deepEqual([...byPath.keys()].sort(), [...expected].sort());
  for (const n of rows) {
    t.is(n.kind, 'DIRECTORY');
    t.is(n.version, 1, `${n.path} was changed after its creation`);
    const parentPath = (n.path as string).includes('/') ? (n.path as string).slice(0, (n.path as string).lastIndexOf('/')) : '';
    const parent = parentPath === '' ? (await nodeRows(s)).find((r) => r.path === '' && r.backend_id === 1) : byPath.get(parentPath);
    t.is(n.parent_id, parent?.id, `${n.path} points at the wrong parent`);
  }
  for (const [i, r] of results.entries()) if (r.ok) t.is(r.value.node.path, paths[i]);
  await assertAgree(t, s, 'mk');
});

test('moving a directory while files are written into it leaves the table and the disk agreeing', async (t) => {
  await s.client.write({ path: 'mv/a/sub/seed', parents: true }, Buffer.from('seed'));
  let from = 'mv/a';
  let to = 'mv/b';
  const written = new Map<string, Buffer>(); // name → content, of the writes that succeeded
  for (let round = 0; round < 4; round++) {
    const writes = Array.from({ length: N }, (_, i) => {
      const name = `${i % 2 ? 'sub/' : ''}r${round}-${i}`;
      const data = randomBytes(5_000 + i);
      return { name, data, call: () => s.client.write({ path: `${from}/${name}` }, data, 1024) };
    });
    // The move starts as soon as one write is done, while the others are still streaming or committing.
    const settled = writes.map((w) => outcomes([w.call]).then(([r]) => r));
    await Promise.race(settled);
    const [moveResult] = await outcomes([() => s.client.fs('moveNode', { backendId: 1, path: from, targetPath: to })]);
    t.true(moveResult.ok, moveResult.ok ? '' : moveResult.message);
    for (const [i, r] of (await Promise.all(settled)).entries()) {
      if (r.ok) written.set(writes[i].name, writes[i].data);
      else t.deepEqual([r.code, r.reason], ['FAILED_PRECONDITION', 'PARENT_MISSING'], r.message);
    }
    await assertAgree(t, s, 'mv');
    [from, to] = [to, from];
  }
  t.true(written.size > 0);
  // Every write that succeeded is in the tree wherever its directory ended up, with its content.
  for (const [name, data] of written) t.deepEqual(await readFile(path.join(s.root, from, name)), data, name);
  const listing = await s.client.fs('listChildren', { backendId: 1, path: from });
  t.is(listing.nodes.filter((n: any) => n.kind === 1).length, [...written.keys()].filter((n) => !n.startsWith('sub/')).length);
});

test('concurrent moves of one file to different targets: one succeeds, the others find nothing to move', async (t) => {
  await s.client.write({ path: 'mo/f', parents: true }, Buffer.from('f'));
  const results = await outcomes(Array.from({ length: N }, (_, i) => () => s.client.fs('moveNode', { backendId: 1, path: 'mo/f', targetPath: `mo/t${i}` })));
  const w = oneWinner(t, results, 'NOT_FOUND', ['NODE_NOT_FOUND']);
  const names = (await s.client.fs('listChildren', { backendId: 1, path: 'mo' })).nodes.map((n: any) => n.name);
  t.deepEqual(names, [`t${w}`]);
  await assertAgree(t, s, 'mo');
});

test('concurrent deletes of one directory: one succeeds, the others find nothing to delete', async (t) => {
  await s.client.write({ path: 'de/d/x/f', parents: true }, Buffer.from('f'));
  const results = await outcomes(Array.from({ length: N }, () => () => s.client.fs('deleteNode', { backendId: 1, path: 'de/d', recursive: true })));
  oneWinner(t, results, 'NOT_FOUND', ['NODE_NOT_FOUND']);
  t.deepEqual((await s.client.fs('listChildren', { backendId: 1, path: 'de' })).nodes, []);
  await assertAgree(t, s, 'de');
});

test('a move and a write racing for the same new target: one wins, and the table and disk agree', async (t) => {
  await s.client.fs('createDirectory', { backendId: 1, path: 'race-target' });
  for (let i = 0; i < 10; i++) {
    const moving = randomBytes(1000 + i);
    const writing = randomBytes(2000 + i);
    await s.client.write({ path: `race-target/src-${i}` }, moving);
    const results = await outcomes([
      () => s.client.fs('moveNode', { backendId: 1, path: `race-target/src-${i}`, targetPath: `race-target/dst-${i}` }),
      () => s.client.write({ path: `race-target/dst-${i}` }, writing),
    ]);
    t.is(results.filter((r) => r.ok).length, 1, `iteration ${i}: exactly one succeeds`);
    for (const r of results) {
      // The loser saw the winner's row (ALREADY_EXISTS) or collided with it mid-transaction (ABORTED).
      if (!r.ok) t.true(['ALREADY_EXISTS/NODE_EXISTS', 'ABORTED/CONCURRENT_UPDATE'].includes(`${r.code}/${r.reason}`), r.message);
    }
    const onDisk = await readFile(path.join(s.root, `race-target/dst-${i}`));
    t.true(onDisk.equals(results[0].ok ? moving : writing), `iteration ${i}: the winner's bytes are at the target`);
  }
  await assertAgree(t, s, 'race-target');
});
