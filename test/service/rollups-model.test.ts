// Acceptance: random sequences of create/write/overwrite/move/copy/delete (and bursts of concurrent
// writes) on a tree up to 8 deep; once the queue drains, every directory's rollup equals both the
// model's sums and a recomputation from the live nodes. PostgreSQL runs with BullMQ, PGlite inline.
import test from 'ava';
import fc from 'fast-check';
import type { ServiceError } from '@grpc/grpc-js';
import { RollupState } from '../../gen/filestore/v1/node.js';
import { testDbKind } from '../support/database.js';
import { deleteKeys, SHARED_REDIS_URL, uniquePrefix } from '../support/redis.js';
import { rollupMismatches, rollupsSettled } from '../support/rollups.js';
import { startTestServer, type TestServer } from '../support/server.js';

type Entry = { kind: 'FILE' | 'DIRECTORY'; size: number };
type Model = Map<string, Entry>; // paths relative to the run's own directory ('' is that directory)

const MAX_DEPTH = 8;
const NAMES = ['a', 'b', 'c'];
const REFUSALS = new Set([3, 5, 6, 9]); // INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION

const prefix = uniquePrefix('rollup-model');
let s: TestServer;
let runs = 0;

test.before(async () => {
  const queues: Record<string, string> = testDbKind === 'pg' ? { REDIS_URL: SHARED_REDIS_URL, FILESTORE_QUEUE_PREFIX: prefix } : {};
  s = await startTestServer({ ...queues, FILESTORE_ROLLUP_FOLD_DELAY_MS: '5', FILESTORE_ROLLUP_BATCH: '7' });
});

test.after.always(async () => {
  await s?.close();
  if (testDbKind === 'pg') await deleteKeys(prefix);
});

const depth = (p: string) => (p === '' ? 0 : p.split('/').length);
const join = (...parts: string[]) => parts.filter(Boolean).join('/');
const under = (p: string, root: string) => root === '' || p === root || p.startsWith(`${root}/`);
const dirs = (m: Model) => ['', ...[...m].filter(([, e]) => e.kind === 'DIRECTORY').map(([p]) => p)].sort();
const nodes = (m: Model) => [...m.keys()].sort();
const pick = <T,>(list: T[], k: number) => list[k % list.length];

class Real {
  constructor(readonly base: string) {}
  abs(p: string) {
    return join(this.base, p);
  }
  /** Runs a command; true when it succeeded, false when the service refused it (the model then stays). */
  async attempt(run: () => Promise<unknown>): Promise<boolean> {
    try {
      await run();
      return true;
    } catch (err) {
      if (!REFUSALS.has((err as ServiceError).code)) throw err;
      return false;
    }
  }
}

function moveEntries(m: Model, from: string, to: string, keepSource: boolean) {
  for (const [p, e] of [...m]) {
    if (!under(p, from)) continue;
    m.set(to + p.slice(from.length), { ...e });
    if (!keepSource) m.delete(p);
  }
}

type Cmd = fc.AsyncCommand<Model, Real>;

const mkdir = (at: number, names: string[]): Cmd => ({
  check: () => true,
  async run(m, r) {
    const parent = pick(dirs(m), at);
    const path = join(parent, ...names);
    if (depth(path) > MAX_DEPTH) return;
    if (await r.attempt(() => s.client.fs('createDirectory', { backendId: 1, path: r.abs(path), parents: true }))) {
      for (let i = 1; i <= names.length; i++) {
        const p = join(parent, ...names.slice(0, i));
        if (!m.has(p)) m.set(p, { kind: 'DIRECTORY', size: 0 });
      }
    }
  },
  toString: () => `mkdir(${at}, ${names.join('/')})`,
});

function writeTo(m: Model, r: Real, dir: string, name: string, size: number, overwrite: boolean) {
  const path = join(dir, name);
  return r
    .attempt(() => s.client.write({ path: r.abs(path), overwrite }, Buffer.alloc(size, 0x61)))
    .then((ok) => ok && m.set(path, { kind: 'FILE', size }));
}

const write = (at: number, name: string, size: number, overwrite: boolean): Cmd => ({
  check: () => true,
  run: async (m, r) => void (await writeTo(m, r, pick(dirs(m), at), name, size, overwrite)),
  toString: () => `write(${at}, ${name}, ${size}, ${overwrite})`,
});

const overwriteFile = (at: number, size: number): Cmd => ({
  check: (m) => [...m.values()].some((e) => e.kind === 'FILE'),
  async run(m, r) {
    const file = pick([...m].filter(([, e]) => e.kind === 'FILE').map(([p]) => p).sort(), at);
    if (await r.attempt(() => s.client.write({ path: r.abs(file), overwrite: true }, Buffer.alloc(size, 0x62)))) m.set(file, { kind: 'FILE', size });
  },
  toString: () => `overwrite(${at}, ${size})`,
});

const transfer = (verb: 'moveNode' | 'copyNode', at: number, to: number, name: string, overwrite: boolean): Cmd => ({
  check: (m) => m.size > 0,
  async run(m, r) {
    const src = pick(nodes(m), at);
    const target = join(pick(dirs(m), to), name);
    const deepest = Math.max(...[...m.keys()].filter((p) => under(p, src)).map((p) => depth(target) + depth(p) - depth(src)));
    if (deepest > MAX_DEPTH) return;
    const req = { backendId: 1, path: r.abs(src), targetPath: r.abs(target), overwrite };
    if (await r.attempt(() => s.client.fs(verb, req))) {
      if (overwrite) m.delete(target);
      moveEntries(m, src, target, verb === 'copyNode');
    }
  },
  toString: () => `${verb}(${at}, ${to}, ${name}, ${overwrite})`,
});

const remove = (at: number): Cmd => ({
  check: (m) => m.size > 0,
  async run(m, r) {
    const path = pick(nodes(m), at);
    if (await r.attempt(() => s.client.fs('deleteNode', { backendId: 1, path: r.abs(path), recursive: true }))) {
      for (const p of [...m.keys()]) if (under(p, path)) m.delete(p);
    }
  },
  toString: () => `delete(${at})`,
});

const burst = (writes: [number, string, number][]): Cmd => ({
  check: () => true,
  async run(m, r) {
    const targets = writes.map(([at, name, size]) => [pick(dirs(m), at), name, size] as const);
    await Promise.all(targets.map(([dir, name, size]) => writeTo(m, r, dir, name, size, true)));
  },
  toString: () => `burst(${writes.length})`,
});

const name = fc.constantFrom(...NAMES);
const size = fc.integer({ min: 0, max: 5000 });
const idx = fc.nat(1000);
const commands = [
  fc.tuple(idx, fc.array(name, { minLength: 1, maxLength: 4 })).map(([a, n]) => mkdir(a, n)),
  fc.tuple(idx, name, size, fc.boolean()).map(([a, n, z, o]) => write(a, n, z, o)),
  fc.tuple(idx, size).map(([a, z]) => overwriteFile(a, z)),
  fc.tuple(idx, idx, name, fc.boolean()).map(([a, b, n, o]) => transfer('moveNode', a, b, n, o)),
  fc.tuple(idx, idx, name, fc.boolean()).map(([a, b, n, o]) => transfer('copyNode', a, b, n, o)),
  idx.map(remove),
  fc.array(fc.tuple(idx, name, size), { minLength: 2, maxLength: 8 }).map(burst),
];

/** What the model says a directory's rollup is: [bytes, files, directories] below it. */
function expected(m: Model, dir: string): [number, number, number] {
  let [b, f, d] = [0, 0, 0];
  for (const [p, e] of m) {
    if (p === dir || !under(p, dir)) continue;
    if (e.kind === 'FILE') (b += e.size), f++;
    else d++;
  }
  return [b, f, d];
}

test('after the queue drains, every rollup equals the model and a recomputation from the live nodes', async (t) => {
  let [checkedDirs, commandsRun, deepest] = [0, 0, 0];
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 60, size: 'large' }), async (cmds) => {
      const base = `run${++runs}`;
      commandsRun += [...cmds].length;
      await s.client.fs('createDirectory', { backendId: 1, path: base });
      const model: Model = new Map();
      await fc.asyncModelRun(() => ({ model, real: new Real(base) }), cmds);
      await rollupsSettled(s.app.jobs.queue, s.app.services.db);
      for (const dir of dirs(model)) {
        const { node } = await s.client.fs('getNode', { backendId: 1, path: join(base, dir) });
        const got = [node.rollup.sizeBytes, node.rollup.fileCount, node.rollup.dirCount];
        if (JSON.stringify(got) !== JSON.stringify(expected(model, dir)) || node.rollup.state !== RollupState.ROLLUP_STATE_UP_TO_DATE) {
          throw new Error(`"${join(base, dir)}": rollup ${JSON.stringify(got)} (state ${node.rollup.state}), model says ${JSON.stringify(expected(model, dir))}`);
        }
        checkedDirs++;
        deepest = Math.max(deepest, depth(dir));
      }
      const wrong = await rollupMismatches(s.app.services.db);
      if (wrong.length) throw new Error(`rollups differ from the live nodes: ${JSON.stringify(wrong.slice(0, 5))}`);
    }),
    { numRuns: 30, endOnFailure: true, includeErrorInReport: true },
  );
  t.log(`${runs} runs, ${commandsRun} commands, ${checkedDirs} directories checked against the model, deepest ${deepest} (${testDbKind}, ${s.app.jobs.queue.kind} queue)`);
  t.true(checkedDirs > runs, 'the runs built directories to check');
});
