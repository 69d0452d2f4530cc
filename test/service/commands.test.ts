// Every file command through a real grpc-js client against an in-process server.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RollupState } from '../../gen/filestore/v1/node.js';
import { sha256 } from '../support/client.js';
import { rollupsSettled } from '../support/rollups.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
});
test.after.always(async () => s?.close());

test('create, write, read, move, copy, update metadata and delete', async (t) => {
  const c = s.client;
  const dir = await c.fs('createDirectory', { backendId: 1, path: 'docs/reports', parents: true });
  t.is(dir.node.path, 'docs/reports');
  t.is(dir.node.version, 1);
  t.false(dir.idempotentReplay);
  t.true(existsSync(path.join(s.root, 'docs/reports')));

  const data = randomBytes(300_000);
  const written = await c.write({ path: 'docs/reports/q1.bin', metadata: { owner: 'ann' } }, data);
  t.is(written.node!.sizeBytes, data.length);
  t.is(written.node!.sha256, sha256(data));
  t.deepEqual(written.node!.metadata, { owner: 'ann' });
  t.deepEqual(readFileSync(path.join(s.root, 'docs/reports/q1.bin')), data);

  const back = await c.read({ path: 'docs/reports/q1.bin' });
  t.true(back.data.equals(data));
  const range = await c.read({ path: 'docs/reports/q1.bin', offset: 1000, length: 5000 });
  t.true(range.data.equals(data.subarray(1000, 6000)));

  const moved = await c.fs('moveNode', { backendId: 1, path: 'docs', targetPath: 'archive' });
  t.is(moved.node.path, 'archive');
  const inside = await c.fs('getNode', { backendId: 1, path: 'archive/reports/q1.bin' });
  t.is(inside.node.sha256, sha256(data));
  t.false(existsSync(path.join(s.root, 'docs')));

  const copied = await c.fs('copyNode', { backendId: 1, path: 'archive', targetPath: 'copy' });
  t.is(copied.node.path, 'copy');
  t.not(copied.node.id, moved.node.id);
  t.deepEqual(readFileSync(path.join(s.root, 'copy/reports/q1.bin')), data);

  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
  const root = await c.fs('getNode', { backendId: 1, path: '' });
  t.is(root.node.rollup.state, RollupState.ROLLUP_STATE_UP_TO_DATE);
  t.is(root.node.rollup.fileCount, 2);
  t.is(root.node.rollup.dirCount, 4);
  t.is(root.node.rollup.sizeBytes, 2 * data.length);

  const meta = await c.fs('updateNodeMetadata', { backendId: 1, path: 'copy/reports/q1.bin', metadata: { tag: 'x' }, merge: true });
  t.deepEqual(meta.node.metadata, { owner: 'ann', tag: 'x' });
  t.is(meta.node.version, 2);

  const listing = await c.fs('listChildren', { backendId: 1, path: '' });
  t.deepEqual(listing.nodes.map((n: any) => n.name), ['archive', 'copy']);

  const del = await c.fs('deleteNode', { backendId: 1, path: 'archive', recursive: true });
  t.is(del.node.state, 4);
  t.false(existsSync(path.join(s.root, 'archive')));

  const versions = await c.fs('listNodeVersions', { backendId: 1, path: 'copy/reports/q1.bin' });
  t.deepEqual(versions.versions.map((v: any) => v.version), [2, 1]);

  const journal = await c.js('listJournalEntries', { pageSize: 100 });
  t.deepEqual(
    journal.entries.map((e: any) => e.command).reverse(),
    ['CreateDirectory', 'WriteFile', 'MoveNode', 'CopyNode', 'UpdateNodeMetadata', 'DeleteNode'],
  );
  t.true(journal.entries.every((e: any) => e.status === 2 && e.principal === 'anonymous'));
});
