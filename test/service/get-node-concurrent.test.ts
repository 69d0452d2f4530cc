// GetNode under concurrency: lookups that arrive together are answered by one statement
// (src/db/node-lookups.ts); each caller must get exactly its own node, rollup or NOT_FOUND.
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { errorReason } from '../support/client.js';
import { rollupsSettled } from '../support/rollups.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
const DIRS = Array.from({ length: 12 }, (_, i) => `d${i}`);
const FILES = DIRS.flatMap((d, i) => Array.from({ length: i % 3 }, (_, k) => `${d}/f${k}.txt`));

test.before(async () => {
  s = await startTestServer();
  for (const d of DIRS) await s.client.fs('createDirectory', { backendId: 1, path: d });
  for (const f of FILES) await s.client.write({ path: f }, Buffer.from(f));
  await rollupsSettled(s.app.jobs.queue, s.app.services.db);
});
test.after.always(async () => s?.close());

const answer = (path: string) =>
  s.client.fs('getNode', { backendId: 1, path }).then(
    (r: any) => ({ path: r.node.path, kind: r.node.kind, size: r.node.sizeBytes, files: r.node.rollup?.fileCount ?? null }),
    (err: any) => ({ path, code: err.code, reason: errorReason(err) }),
  );

test('200 concurrent GetNode calls over files, directories and missing paths each answer as one alone does', async (t) => {
  const paths = [...DIRS, ...FILES, ...DIRS.map((d) => `${d}/missing`), 'nowhere', ''];
  const alone: Awaited<ReturnType<typeof answer>>[] = [];
  for (const p of paths) alone.push(await answer(p));
  const order = Array.from({ length: 200 }, (_, i) => paths[(i * 7) % paths.length]);
  const together = await Promise.all(order.map(answer));
  t.deepEqual(together, order.map((p) => alone[paths.indexOf(p)]));
  t.like(alone[paths.indexOf('d2')], { kind: 2, files: 2 }, 'a directory comes with its rollup');
  t.like(alone[paths.indexOf('nowhere')], { code: status.NOT_FOUND, reason: 'NODE_NOT_FOUND' });
});
