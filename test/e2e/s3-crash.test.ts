// SIGKILL the real server inside WriteFile, CopyNode, MoveNode and DeleteNode on an S3 backend (at the
// command's exact crash points, src/commands/crash-points.ts: those after which the outcome is forward,
// and those inside a tree's copy or deletes, where settling decides), restart it: every path old or new,
// the bucket ≡ the API, nothing left in staging or intents, no entry PENDING. s3rver runs in this
// process, so it outlives the killed server as a real S3 would.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NodeKind } from '../../gen/filestore/v1/node.js';
import { sha256, type TestClient } from '../support/client.js';
import { startS3, storedLines, type S3Fixture } from '../support/s3.js';
import { makeTestEnv, spawnServer, type SpawnedServer } from '../support/server.js';
import { listTree } from '../support/observe.js';
import { journalAll, stagingLeftovers, STATUS } from './helpers.js';

let s3: S3Fixture;
test.before(async () => {
  s3 = await startS3();
});
test.after.always(async () => s3?.stop());

interface Site {
  env: Record<string, string>;
  bucket: string;
  /** Backend 2, a local directory, beside the S3 backend 1. */
  localRoot: string;
  cleanup(): Promise<void>;
}

async function site(): Promise<Site> {
  const bucket = await s3.bucket();
  // On PostgreSQL in either suite: about 36 server starts, each much shorter without PGlite's start-up
  // (the S3 side, the subject here, does not depend on the database).
  const env = await makeTestEnv({}, 'pg');
  const localRoot = path.join(env.dataDir, 'local');
  await mkdir(localRoot);
  const file = path.join(env.dataDir, 'backends.yaml');
  await writeFile(
    file,
    `backends:\n  - { id: 1, name: s3, kind: s3, bucket: ${bucket}, prefix: p, region: us-east-1, endpoint: "${s3.endpoint}", forcePathStyle: true }\n` +
      `  - { id: 2, name: disk, kind: local, root: "${localRoot}" }\n`,
  );
  return { env: { ...env.env, FILESTORE_BACKENDS_PATH: file }, bucket, localRoot, cleanup: env.cleanup };
}

const line = (path: string, bytes: Buffer) => `${path} ${bytes.length} ${sha256(bytes)}`;

/**
 * The API's trees of both backends and what they store, as "path/" and "path size sha256" lines (the
 * local backend's prefixed "2:"), and what is left in the service's own areas.
 */
async function trees(c: TestClient, where: Site): Promise<{ api: string[]; stored: string[]; own: string[] }> {
  const api: string[] = [];
  for (const backendId of [1, 2]) {
    const tag = backendId === 2 ? '2:' : '';
    for (const msg of await c.walk({ backendId, path: '' })) {
      for (const n of msg.nodes) api.push(tag + (n.kind === NodeKind.NODE_KIND_DIRECTORY ? `${n.path}/` : `${n.path} ${n.sizeBytes} ${n.sha256}`));
    }
  }
  const { stored, own } = await storedLines(s3.client, where.bucket, 'p/');
  for (const l of await listTree(where.localRoot, { opaque: (r) => r === '.filestore' })) {
    const [rel, kind, size, sha] = l.split('|');
    if (rel === '.filestore') continue;
    stored.push(`2:${kind === 'dir' ? `${rel}/` : `${rel} ${size} ${sha}`}`);
  }
  own.push(...(await stagingLeftovers(where.localRoot)).map((p) => `2:${p}`));
  return { api: api.sort(), stored: stored.sort(), own };
}

interface Case {
  point: string;
  setup(c: TestClient): Promise<void>;
  run(c: TestClient): Promise<unknown>;
  /** The paths the command changes, as tree lines before and after it. */
  old: string[];
  new: string[];
}

const ONE = Buffer.from('one');
const TWO = randomBytes(9 * 1024 * 1024 + 1); // above the part size: a multipart upload

const cases: Case[] = [
  ...['write:after-publish'].map((point) => ({
    point,
    setup: async (c: TestClient) => void (await c.write({ path: 'f' }, ONE)),
    run: (c: TestClient) => c.write({ path: 'f', overwrite: true }, TWO, 1024 * 1024),
    old: [line('f', ONE)],
    new: [line('f', TWO)],
  })),
  ...['write:after-publish'].map((point) => ({
    point: `${point} (new file)`,
    setup: async () => {},
    run: (c: TestClient) => c.write({ path: 'g' }, ONE),
    old: [],
    new: [line('g', ONE)],
  })),
  ...['copy:after-publish'].map((point) => ({
    point,
    setup: async (c: TestClient) => {
      await c.fs('createDirectory', { backendId: 1, path: 'src/sub', parents: true });
      await c.write({ path: 'src/sub/x' }, ONE);
    },
    run: (c: TestClient) => c.fs('copyNode', { backendId: 1, path: 'src', targetPath: 'dst' }),
    old: ['src/', 'src/sub/', line('src/sub/x', ONE)],
    new: ['dst/', 'dst/sub/', line('dst/sub/x', ONE), 'src/', 'src/sub/', line('src/sub/x', ONE)],
  })),
  {
    point: 'move:after-rename',
    setup: async (c) => void (await c.write({ path: 'm' }, ONE)),
    run: (c) => c.fs('moveNode', { backendId: 1, path: 'm', targetPath: 'moved' }),
    old: [line('m', ONE)],
    new: [line('moved', ONE)],
  },
  {
    point: 'delete:after-unpublish',
    setup: async (c) => void (await c.write({ path: 'd' }, ONE)),
    run: (c) => c.fs('deleteNode', { backendId: 1, path: 'd' }),
    old: [line('d', ONE)],
    new: [],
  },
];

// A tree of `n` objects (a marker, 2 subdirectories and their files): its copy and its deletes take
// many calls, in batches of 16 copies (the mid-copy point comes after the first batch).
const treeFiles = (n: number) => Array.from({ length: n - 3 }, (_, i) => `t/${i % 2 ? 'a' : 'b'}/${i}.txt`);
const treeLines = (top: string, n: number) =>
  ['t/', 't/a/', 't/b/', ...treeFiles(n)].map((p) => (p.endsWith('/') ? `${top}${p.slice(1)}` : line(`${top}${p.slice(1)}`, Buffer.from(p))));
const makeTree = (n: number) => async (c: TestClient) => {
  await c.fs('createDirectory', { backendId: 1, path: 't/a', parents: true });
  await c.fs('createDirectory', { backendId: 1, path: 't/b' });
  const files = treeFiles(n);
  for (let i = 0; i < files.length; i += 16) await Promise.all(files.slice(i, i + 16).map((p) => c.write({ path: p }, Buffer.from(p))));
};
const SMALL = 24;
cases.push(
  {
    point: 's3:tree-mid-delete (MoveNode of 300 objects)',
    setup: makeTree(300),
    run: (c: TestClient) => c.fs('moveNode', { backendId: 1, path: 't', targetPath: 'moved' }),
    old: treeLines('t', 300),
    new: treeLines('moved', 300),
  },
  {
    point: `s3:tree-mid-copy (MoveNode of ${SMALL} objects)`,
    setup: makeTree(SMALL),
    run: (c: TestClient) => c.fs('moveNode', { backendId: 1, path: 't', targetPath: 'moved' }),
    old: treeLines('t', SMALL),
    new: treeLines('moved', SMALL),
  },
  ...['s3:tree-mid-delete'].map((point) => ({
    point: `${point} (recursive DeleteNode of ${SMALL} objects)`,
    setup: makeTree(SMALL),
    run: (c: TestClient) => c.fs('deleteNode', { backendId: 1, path: 't', recursive: true }),
    old: treeLines('t', SMALL),
    new: [],
  })),
  {
    point: `s3:tree-mid-copy (CopyNode of ${SMALL} objects)`,
    setup: makeTree(SMALL),
    run: (c: TestClient) => c.fs('copyNode', { backendId: 1, path: 't', targetPath: 'copied' }),
    old: treeLines('t', SMALL),
    new: [...treeLines('t', SMALL), ...treeLines('copied', SMALL)],
  },
);

// Moves between the S3 backend (1) and the local one (2): staged on the target, published there, then
// taken out of the source; killed after each step.
cases.push(
  ...['move:after-publish', 'move:after-unpublish'].map((point) => ({
    point: `${point} (a file, S3 → local)`,
    setup: async (c: TestClient) => void (await c.write({ path: 'x.bin' }, TWO, 1024 * 1024)),
    run: (c: TestClient) => c.fs('moveNode', { backendId: 1, path: 'x.bin', targetBackendId: 2, targetPath: 'x.bin' }),
    old: [line('x.bin', TWO)],
    new: [`2:${line('x.bin', TWO)}`],
  })),
  ...['s3:tree-mid-delete'].map((point) => ({
    point: `${point} (a tree of ${SMALL} objects, S3 → local)`,
    setup: makeTree(SMALL),
    run: (c: TestClient) => c.fs('moveNode', { backendId: 1, path: 't', targetBackendId: 2, targetPath: 't' }),
    old: treeLines('t', SMALL),
    new: treeLines('t', SMALL).map((l) => `2:${l}`),
  })),
);

// Three at a time: s3rver runs on this process's event loop, and every case starts three servers.
let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  while (running >= 3) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

for (const k of cases) {
  test(`S3: killed at ${k.point}, then restarted: all old or all new, bucket ≡ API`, (t: ExecutionContext) => slot(async () => {
    const where = await site();
    let s: SpawnedServer | undefined;
    try {
      s = await spawnServer(where.env);
      await k.setup(s.client);
      await s.kill();
      s = await spawnServer({ ...where.env, FILESTORE_CRASH_AT: k.point.replace(/ \(.*\)$/, '') });
      await t.throwsAsync(k.run(s.client)); // the server died inside the command
      await s.kill();
      s = await spawnServer(where.env);
      const { api, stored, own } = await trees(s.client, where);
      t.deepEqual(stored, api, 'bucket ≡ API');
      t.deepEqual(own, [], 'nothing left in staging or intents');
      t.true([[...k.old].sort(), [...k.new].sort()].some((want) => JSON.stringify(want) === JSON.stringify(api)), `old or new, not ${JSON.stringify(api)}`);
      const { entries } = await journalAll(s.client);
      t.deepEqual(entries.filter((e) => e.status === STATUS.PENDING).map((e) => e.id), [], 'no entry PENDING');
    } finally {
      await s?.kill();
      await where.cleanup();
    }
  }));
}
