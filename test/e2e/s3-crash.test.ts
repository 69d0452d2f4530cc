// SIGKILL the real server inside WriteFile, CopyNode, MoveNode and DeleteNode on an S3 backend (at the
// command's exact crash points, src/commands/crash-points.ts), restart it: every path old or new,
// the bucket ≡ the API, nothing left in staging or intents, no entry PENDING. s3rver runs in this
// process, so it outlives the killed server as a real S3 would.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { NodeKind } from '../../gen/filestore/v1/node.js';
import { sha256, type TestClient } from '../support/client.js';
import { listKeys, startS3, type S3Fixture } from '../support/s3.js';
import { makeTestEnv, spawnServer, type SpawnedServer } from '../support/server.js';
import { journalAll, STATUS } from './helpers.js';

let s3: S3Fixture;
test.before(async () => {
  s3 = await startS3();
});
test.after.always(async () => s3?.stop());

interface Site {
  env: Record<string, string>;
  bucket: string;
  cleanup(): Promise<void>;
}

async function site(): Promise<Site> {
  const bucket = await s3.bucket();
  const env = await makeTestEnv();
  const file = path.join(env.dataDir, 'backends.yaml');
  await writeFile(file, `backends:\n  - { id: 1, name: s3, kind: s3, bucket: ${bucket}, prefix: p, region: us-east-1, endpoint: "${s3.endpoint}", forcePathStyle: true }\n`);
  return { env: { ...env.env, FILESTORE_BACKENDS_PATH: file }, bucket, cleanup: env.cleanup };
}

/** The API's tree and the bucket's, as "path/" and "path size sha256" lines. */
async function trees(c: TestClient, bucket: string): Promise<{ api: string[]; stored: string[]; own: string[] }> {
  const api: string[] = [];
  for (const msg of await c.walk({ path: '' })) {
    for (const n of msg.nodes) api.push(n.kind === NodeKind.NODE_KIND_DIRECTORY ? `${n.path}/` : `${n.path} ${n.sizeBytes} ${n.sha256}`);
  }
  const stored: string[] = [];
  const own: string[] = [];
  for (const key of await listKeys(s3.client, bucket)) {
    const rel = key.slice('p/'.length);
    if (rel.startsWith('.filestore/')) own.push(rel);
    else if (rel.endsWith('/')) stored.push(rel);
    else {
      const got = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const bytes = Buffer.from(await got.Body!.transformToByteArray());
      stored.push(`${rel} ${bytes.length} ${sha256(bytes)}`);
    }
  }
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
const line = (p: string, b: Buffer) => `${p} ${b.length} ${sha256(b)}`;

const cases: Case[] = [
  ...['write:before-publish', 'write:after-publish'].map((point) => ({
    point,
    setup: async (c: TestClient) => void (await c.write({ path: 'f' }, ONE)),
    run: (c: TestClient) => c.write({ path: 'f', overwrite: true }, TWO, 1024 * 1024),
    old: [line('f', ONE)],
    new: [line('f', TWO)],
  })),
  ...['write:before-publish', 'write:after-publish'].map((point) => ({
    point: `${point} (new file)`,
    setup: async () => {},
    run: (c: TestClient) => c.write({ path: 'g' }, ONE),
    old: [],
    new: [line('g', ONE)],
  })),
  ...['copy:after-stage', 'copy:after-publish'].map((point) => ({
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
const SMALL = 40;
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
  ...['s3:tree-mid-copy', 's3:tree-mid-delete'].map((point) => ({
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
      const { api, stored, own } = await trees(s.client, where.bucket);
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
