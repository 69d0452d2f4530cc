// Crash recovery that does not depend on who restarts (docs/decisions/004). The real server is
// SIGKILLed at a random instant during MoveNode, CopyNode, recursive DeleteNode and a 64 MiB upload,
// 20 times each; then, in turn: (a) a new process with a new instance id on another port takes over,
// (b) a process with another FILESTORE_INSTANCE_ID takes over, (c) on PostgreSQL, no restart at all: a
// second instance that was running all along resolves what the dead one left. After each kill: every
// journal entry resolved within 30 s, no staging leftover of the dead process, the nodes equal the disk,
// and the command's idempotency key settled (a retry with it answers at once and completes the command).
import test, { type ExecutionContext } from 'ava';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { testDbKind } from '../support/database.js';
import { makeTestEnv, spawnServer, type SpawnedServer, type TestEnv } from '../support/server.js';
import type { TestClient } from '../support/client.js';
import { content, contentSha256, diskTree, journalAll, KiB, metadataTree, MiB, pool, STATUS, stagingLeftovers, subtree, treeDiff, type Tree } from './helpers.js';

const RUNS = Number(process.env.FILESTORE_TEST_KILLS ?? 20);
const RESOLVE_WITHIN_MS = 30_000;
const MODES = testDbKind === 'pg' ? (['other-port', 'other-id', 'survivor'] as const) : (['other-port', 'other-id'] as const);
type Mode = (typeof MODES)[number];

/** A shared data directory and database, served by a succession of processes (two at a time on PostgreSQL). */
class Site {
  current!: SpawnedServer;
  standby: SpawnedServer | null = null;
  readonly root: string;
  private readonly spawned: SpawnedServer[] = [];

  /** `fast`: sweeps every second (the randomised runs); otherwise the defaults (10 s, 10 s grace). */
  constructor(
    readonly env: TestEnv,
    private readonly fast = true,
  ) {
    this.root = path.join(env.dataDir, 'data');
  }

  get c(): TestClient {
    return this.current.client;
  }

  /** A new process: a fresh instance id unless `instanceId` names one. */
  async spawn(instanceId?: string, extra: Record<string, string> = {}): Promise<SpawnedServer> {
    // Fast sweeps; and every command's transaction waits up to 40 ms after its disk step before it
    // commits (a fault-injection hook), so that kills also land between the disk step and the commit.
    const fast = { FILESTORE_RECOVERY_INTERVAL_MS: '1000', FILESTORE_RECOVERY_GRACE_MS: '1000', FILESTORE_TEST_TX_DELAY_MS: '40' };
    const env: Record<string, string> = { ...this.env.env, ...(this.fast ? fast : {}), ...extra };
    delete env.FILESTORE_INSTANCE_ID;
    if (instanceId) env.FILESTORE_INSTANCE_ID = instanceId;
    const s = await spawnServer(env);
    this.spawned.push(s);
    return s;
  }

  /** Journal entries some process's recovery resolved (from the reports they logged): id → status. */
  resolvedByRecovery(): Map<number, string> {
    const out = new Map<number, string>();
    for (const s of this.spawned) {
      for (const line of s.output) {
        if (!line.includes('recovered commands left in flight')) continue;
        for (const r of JSON.parse(line).resolved as { id: number; status: string }[]) out.set(r.id, r.status);
      }
    }
    return out;
  }

  /** After `current` was killed: who carries on, as `mode` says. */
  async takeOver(mode: Mode, run: number): Promise<void> {
    if (mode === 'survivor') {
      this.current = this.standby!;
      this.standby = null;
    } else {
      this.current = await this.spawn(mode === 'other-id' ? `fixed-${run}` : undefined);
    }
  }

  /**
   * Before an attempt: a second instance running beside the current one for 'survivor', none
   * otherwise (then the process that takes over must resolve what the dead one left by itself).
   */
  async prepareFor(mode: Mode): Promise<void> {
    if (mode === 'survivor' && !this.standby) {
      this.standby = await this.spawn();
      await sleep(this.fast ? 1_100 : 10_100); // past its grace period, so that it may judge others dead
    }
    if (mode !== 'survivor' && this.standby) {
      await this.standby.kill('SIGTERM');
      this.standby = null;
    }
  }

  instanceOf(s: SpawnedServer): string {
    const line = s.output.find((l) => l.includes('filestore serving'));
    return line ? (JSON.parse(line).instance as string) : '?';
  }

  async close(): Promise<void> {
    for (const s of [this.current, this.standby]) if (s) await s.kill('SIGKILL');
    await this.env.cleanup();
  }
}

/** Waits until nothing is PENDING and the dead process's staging area is gone; returns how long it took. */
async function waitResolved(c: TestClient, root: string, dead: string): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const pending = await journalAll(c, { status: STATUS.PENDING });
    const areas = [...(await stagingAreas(root)), ...(await intentAreas(root))];
    if (pending.entries.length === 0 && !areas.includes(dead)) return Date.now() - t0;
    if (Date.now() - t0 > RESOLVE_WITHIN_MS) {
      const left = pending.entries.map((e) => `${e.id} ${e.command} ${e.path}`).join(', ');
      throw new Error(`after ${RESOLVE_WITHIN_MS} ms: PENDING [${left}], staging and intent areas [${areas.join(', ')}] (dead: ${dead})`);
    }
    await sleep(100);
  }
}

/** Owners of staging areas on disk (each live process has one, possibly empty). */
async function stagingAreas(root: string): Promise<string[]> {
  return readdir(path.join(root, '.filestore', 'staging')).catch(() => []);
}

/** Owners of intent logs on disk (docs/decisions/006): a dead owner's goes once its intents are resolved. */
async function intentAreas(root: string): Promise<string[]> {
  return readdir(path.join(root, '.filestore', 'intents')).catch(() => []);
}

interface Command {
  name: string;
  /** The scene before attempt `i` (on a server that is not killed). */
  prepare?(c: TestClient, i: number): Promise<void>;
  run(c: TestClient, key: string, i: number, onProgress?: (fraction: number) => Promise<void>): Promise<unknown>;
  /** The state the command reaches once it ran (the retry with its key makes sure it did). */
  done(t: ExecutionContext, tree: Tree, i: number, label: string): void;
  /** Cleans up after a successful attempt, so that the next starts from the same scene. */
  after?(c: TestClient, i: number): Promise<void>;
}

const DIRS = 5;
const FILES_PER_DIR = 20;
const BIG = 64 * MiB;

async function buildTree(c: TestClient, at: string): Promise<void> {
  await c.fs('createDirectory', { backendId: 1, path: at });
  await pool([...Array(DIRS).keys()], 4, (d) => c.fs('createDirectory', { backendId: 1, path: `${at}/d${d}` }));
  const files = [];
  for (let d = 0; d < DIRS; d++) for (let f = 0; f < FILES_PER_DIR; f++) files.push(`d${d}/f${f}.txt`);
  await pool(files, 16, (rel) => c.write({ path: `${at}/${rel}` }, [...content(rel, 100 + rel.length * 37)]));
}

function commands(shape: () => Tree, where: { at: string }): Command[] {
  const sameShape = (t: ExecutionContext, tree: Tree, p: string, label: string) =>
    t.deepEqual(treeDiff(subtree(tree, p), shape(), 5), [], `${label}: the tree at "${p}" is incomplete or changed`);
  return [
    {
      name: 'MoveNode',
      run: (c, key) => c.fs('moveNode', { backendId: 1, path: where.at, targetPath: where.at === 'a' ? 'b' : 'a', idempotencyKey: key }),
      done(t, tree, _i, label) {
        const to = where.at === 'a' ? 'b' : 'a';
        sameShape(t, tree, to, label);
        t.is(subtree(tree, where.at).size, 0, `${label}: nothing left at the source`);
        where.at = to;
      },
    },
    {
      name: 'CopyNode',
      run: (c, key, i) => c.fs('copyNode', { backendId: 1, path: where.at, targetPath: `copy-${i}`, idempotencyKey: key }),
      done(t, tree, i, label) {
        sameShape(t, tree, where.at, `${label} (source)`);
        sameShape(t, tree, `copy-${i}`, label);
      },
      after: (c, i) => c.fs('deleteNode', { backendId: 1, path: `copy-${i}`, recursive: true }),
    },
    {
      name: 'DeleteNode',
      prepare: (c, i) => c.fs('copyNode', { backendId: 1, path: where.at, targetPath: `victim-${i}` }),
      run: (c, key, i) => c.fs('deleteNode', { backendId: 1, path: `victim-${i}`, recursive: true, idempotencyKey: key }),
      done(t, tree, i, label) {
        t.is(subtree(tree, `victim-${i}`).size, 0, `${label}: the victim is gone`);
        sameShape(t, tree, where.at, `${label} (original)`);
      },
    },
    {
      name: 'WriteFile',
      run: (c, key, i, onProgress) =>
        c.write(
          { path: 'big.bin', overwrite: true, idempotencyKey: key },
          (async function* () {
            let sent = 0;
            for (const chunk of content(`big-${i}`, BIG, 256 * KiB)) {
              yield chunk;
              sent += chunk.length;
              await onProgress?.(sent / BIG);
            }
          })(),
        ),
      done(t, tree, i, label) {
        t.deepEqual(tree.get('big.bin'), { kind: 'FILE', size: BIG, sha256: contentSha256(`big-${i}`, BIG) }, `${label}: the upload is in place`);
      },
    },
  ];
}

async function killRandomly(t: ExecutionContext, name: string): Promise<void> {
  t.timeout(15 * 60_000);
  const site = new Site(await makeTestEnv());
  t.teardown(() => site.close());
  site.current = await site.spawn();
  await buildTree(site.c, 'a');
  const shape = subtree(await metadataTree(site.c, { hashes: true }), 'a');
  const where = { at: 'a' };
  const cmd = commands(() => shape, where).find((c) => c.name === name)!;

  // One uninterrupted run tells how long the command takes, to spread the kills over it.
  await cmd.prepare?.(site.c, -1);
  const t0 = performance.now();
  let lastChunkAt = t0;
  await cmd.run(site.c, `timing-${cmd.name}`, -1, async (share) => {
    if (share >= 1) lastChunkAt = performance.now();
  });
  const ms = Math.max(performance.now() - t0, 30);
  const tailMs = Math.max(performance.now() - lastChunkAt, 30); // an upload's: last chunk sent → answer
  await cmd.after?.(site.c, -1);
  if (cmd.name === 'MoveNode') where.at = where.at === 'a' ? 'b' : 'a';

  const resolved: number[] = [];
  const outcomes: Record<string, number> = {};
  const byRecovery = { rolledBack: 0, rolledForward: 0 };
  // A kill aimed at the PENDING window can miss it on a loaded machine (the command commits first); if no
  // kill of the planned ones left an entry for recovery to resolve, a few more aim at that window.
  const EXTRA = 10;
  const recoveryRan = () => byRecovery.rolledBack + byRecovery.rolledForward > 0;
  for (let i = 0; i < RUNS || (!recoveryRan() && i < RUNS + EXTRA); i++) {
    const mode = MODES[i % MODES.length];
    const label = `${cmd.name} #${i} (${mode})`;
    await site.prepareFor(mode);
    await cmd.prepare?.(site.c, i);
    const key = `${cmd.name}-${i}-${Math.random().toString(36).slice(2)}`;
    const victim = site.current;
    const dead = site.instanceOf(victim);
    // Every fourth run dies within 20 ms of its entry turning up PENDING (so that each command has kills
    // between its entry and its commit). Otherwise uploads die at a random share of their bytes, or after
    // the last one while the server fsyncs and commits; the other commands after a random delay.
    const whenPending = i % 4 === 2 || i >= RUNS;
    const killAt = whenPending || i % 2 === 0 ? 1 : Math.random();
    const afterLastMs = Math.random() * tailMs * 1.2;
    let killed: Promise<unknown> | null = null;
    const kill = () => (killed ??= victim.kill('SIGKILL'));
    const outcome = cmd
      .run(victim.client, key, i, async (share) => {
        if (killAt < 1 && share >= killAt) await kill();
        else if (share >= 1 && !whenPending) setTimeout(kill, afterLastMs);
      })
      .then(
        () => 'ok',
        () => 'error',
      );
    if (whenPending && cmd.name === 'WriteFile') {
      // The journal cannot show an upload's PENDING window on PGlite (one connection: the listing waits
      // for the command's transaction), so watch the disk: the staged file vanishes at the rename, and
      // the kill lands between it and the commit.
      const area = path.join(site.root, '.filestore', 'staging', dead);
      let staged = false;
      while (!killed) {
        const files = await readdir(area).catch(() => []);
        if (files.length > 0) staged = true;
        else if (staged) break;
        if (await Promise.race([outcome.then(() => true), sleep(1).then(() => false)])) break;
      }
    } else if (whenPending) {
      const deadline = Date.now() + 60_000;
      while (!killed && Date.now() < deadline) {
        const pending = await journalAll(victim.client, { status: STATUS.PENDING, command: cmd.name }).catch(() => ({ entries: [] }));
        if (pending.entries.some((e) => e.idempotencyKey === key)) {
          await sleep(i >= RUNS ? 0 : Math.random() * 20);
          break;
        }
        if (await Promise.race([outcome.then(() => true), sleep(2).then(() => false)])) break;
      }
    } else if (cmd.name !== 'WriteFile') await sleep(Math.random() * ms * 1.3);
    else await outcome;
    await kill();
    const clientSaw = await outcome;

    const tKilled = Date.now();
    await site.takeOver(mode, i);
    const tUp = Date.now();
    const resolvedMs = await waitResolved(site.c, site.root, dead);
    resolved.push(resolvedMs);
    const live = [site.current, site.standby].filter((s): s is SpawnedServer => !!s).map((s) => site.instanceOf(s));
    t.deepEqual(await stagingLeftovers(site.root), [], `${label}: staging leftovers`);
    t.true((await stagingAreas(site.root)).every((o) => live.includes(o)), `${label}: only live processes have staging areas`);
    t.true((await intentAreas(site.root)).every((o) => live.includes(o)), `${label}: only live processes have intent logs`);
    const [meta, disk] = await Promise.all([metadataTree(site.c, { hashes: true }), diskTree(site.root, { hashes: true })]);
    t.deepEqual(treeDiff(meta, disk), [], `${label}: the nodes and the disk disagree`);

    // The key is settled: a retry answers at once, as a replay of what committed or as a fresh run.
    const retry = performance.now();
    const again = await cmd.run(site.c, key, i);
    t.true(performance.now() - retry < 15_000, `${label}: the retry waited on its key`);
    const replay = (again as { idempotentReplay?: boolean }).idempotentReplay === true;
    cmd.done(t, await metadataTree(site.c, { hashes: true }), i, label);
    if (clientSaw === 'ok') t.true(replay, `${label}: the client was told it succeeded, so the retry is a replay`);
    const result = `${clientSaw === 'ok' ? 'acknowledged' : 'cut off'}, ${replay ? 'had committed' : 'rolled back'}`;
    outcomes[result] = (outcomes[result] ?? 0) + 1;
    // The killed attempt's entry, not the retry's: the lowest id with this key.
    const first = (await journalAll(site.c, { command: cmd.name })).entries
      .filter((e) => e.idempotencyKey === key)
      .sort((x, y) => Number(x.id) - Number(y.id))[0];
    const recovered = first && site.resolvedByRecovery().get(first.id);
    if (recovered === 'ROLLED_BACK') byRecovery.rolledBack++;
    if (recovered === 'SUCCEEDED') byRecovery.rolledForward++;
    await cmd.after?.(site.c, i);
    if (process.env.FILESTORE_TEST_TRACE) process.stderr.write(`${label}: takeover ${tUp - tKilled} ms, resolved ${resolvedMs} ms, checks+retry ${Date.now() - tUp - resolvedMs} ms\n`);
  }
  resolved.sort((x, y) => x - y);
  t.true(recoveryRan(), `none of ${resolved.length} kills left an entry PENDING for recovery to resolve`);
  t.log(`${resolved.length} kills; resolved within ${resolved.at(-1)} ms of the takeover (median ${resolved[resolved.length >> 1]} ms); ${JSON.stringify(outcomes)}; entries recovery rolled back: ${byRecovery.rolledBack}, rolled forward: ${byRecovery.rolledForward}`);
}

for (const name of ['MoveNode', 'CopyNode', 'DeleteNode', 'WriteFile']) {
  const what = name === 'WriteFile' ? 'a 64 MiB WriteFile' : name === 'DeleteNode' ? 'a recursive DeleteNode' : name;
  test.serial(`SIGKILL at ${RUNS} random points during ${what}; taken over by ${MODES.join(', ')}: all resolved, nothing left behind`, (t) => killRandomly(t, name));
}

test.serial('with the default settings, what a killed process left is resolved within 30 s by whoever takes over', async (t) => {
  const site = new Site(await makeTestEnv(), false);
  t.teardown(() => site.close());
  site.current = await site.spawn();
  await buildTree(site.c, 'a');
  const shape = subtree(await metadataTree(site.c, { hashes: true }), 'a');
  const where = { at: 'a' };
  const [move] = commands(() => shape, where);
  for (const [i, mode] of MODES.entries()) {
    await site.prepareFor(mode);
    // The process kills itself after the rename, before the commit: its entry is PENDING for sure.
    await site.current.kill('SIGTERM');
    const victim = (site.current = await site.spawn(undefined, { FILESTORE_CRASH_AT: 'move:after-rename' }));
    const dead = site.instanceOf(victim);
    await t.throwsAsync(move.run(victim.client, `default-${i}`, i));
    await site.takeOver(mode, 100 + i);
    const ms = await waitResolved(site.c, site.root, dead);
    t.log(`${mode}: resolved ${ms} ms after the takeover`);
    t.true(ms < RESOLVE_WITHIN_MS);
    const [entry] = (await journalAll(site.c, { command: 'MoveNode' })).entries;
    t.is(entry.status, STATUS.SUCCEEDED, `${mode}: the move was rolled forward`);
    move.done(t, await metadataTree(site.c, { hashes: true }), i, mode);
  }
});
