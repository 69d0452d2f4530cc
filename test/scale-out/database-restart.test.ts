// Acceptance: the database killed (-9) and restarted under a write load. A private PostgreSQL
// cluster (test/support/private-postgres.ts) serves one real server process; 8 writers keep
// writing while every PostgreSQL process is SIGKILLed, while it stays down and after it returns.
// Then: the server never restarted; while the database was down Health said NOT_SERVING and calls
// failed fast with UNAVAILABLE; every acknowledged write is there; within 30 s of the database's
// return no journal entry is PENDING and the nodes agree with the disk, with no staging leftovers
// (polled: commands the outage left in doubt are resolved by then).
import test, { type ExecutionContext } from 'ava';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { status as grpcStatus } from '@grpc/grpc-js';
import { NodeKind } from '../../gen/filestore/v1/node.js';
import type { TestClient } from '../support/client.js';
import { pollHealth, type HealthSample } from '../support/health.js';
import { startPrivatePostgres } from '../support/private-postgres.js';
import { makeTestEnv, spawnServer } from '../support/server.js';
import { grpcStatusName, WriteLoad, type CallRecord, type Expected } from '../support/write-load.js';
import { diskTree, journalAll, metadataTree, pool, readHashed, STATUS, treeDiff, type Tree } from '../e2e/helpers.js';

const WRITERS = 8;
const LOAD_BEFORE_MS = 2_000;
const OUTAGE_MS = 3_000;
const LOAD_AFTER_MS = 3_000;
/** "Fail fast": the longest a call started while the database is down may take. */
const FAIL_FAST_MS = 2_000;
const RESOLVED_WITHIN_MS = 30_000;

test('the database killed -9 and restarted under a write load', async (t) => {
  const pgc = await startPrivatePostgres();
  t.teardown(() => pgc.stop());
  const env = await makeTestEnv({ DATABASE_URL: await pgc.createDatabase('filestore') });
  t.teardown(() => env.cleanup());
  const s = await spawnServer(env.env);
  t.teardown(() => s.kill());
  const root = path.join(env.dataDir, 'data');
  const serverPid = s.child.pid;
  let serverExitedAt: number | null = null;
  s.child.once('exit', () => (serverExitedAt = performance.now()));

  const health = pollHealth(`127.0.0.1:${s.port}`);
  const load = new WriteLoad(s.client, { writers: WRITERS, deadlineMs: 10_000, pauseAfterFailureMs: 50 });
  let loadStopped = false;
  t.teardown(async () => {
    if (!loadStopped) await Promise.all([health.stop(), load.stop()]);
  });

  await load.start();
  await sleep(LOAD_BEFORE_MS);
  const killStarted = performance.now();
  await pgc.kill9();
  const down = performance.now();
  await sleep(OUTAGE_MS);
  const restartStarted = performance.now();
  await pgc.start();
  const back = performance.now();
  await sleep(LOAD_AFTER_MS);
  await Promise.all([health.stop(), load.stop()]);
  loadStopped = true;

  const checks = new Checks();
  const serverAlive = () => serverExitedAt === null;
  const exitedAfterKill = serverExitedAt === null ? '' : `${Math.round(serverExitedAt - killStarted)} ms after the kill`;
  checks.that(`the server (pid ${serverPid}) was never restarted`, [
    ...(serverAlive() ? [] : [`it exited (${s.child.exitCode ?? s.child.signalCode}) ${exitedAfterKill}; its last lines:`, ...s.output.slice(-25)]),
    ...(s.output.filter((l) => l.includes('filestore serving')).length === 1 ? [] : ['it logged "filestore serving" more than once']),
  ]);
  await checks.attempt('the server still serves', async () => ({ result: await s.client.fs('getNode', { backendId: 1, path: '' }), problems: [] }));
  const healthFigures = checkHealth(checks, health.samples, killStarted, restartStarted, back);
  // Calls to a server that died fail fast too, but say nothing about the server.
  const outage = checkFailFast(checks, load.calls, down, Math.min(restartStarted, serverExitedAt ?? Infinity));
  const ackedAfterReturn = load.calls.filter((c) => c.code === grpcStatus.OK && c.startedAt >= back).length;
  checks.that('writes are acknowledged again after the database returned', ackedAfterReturn > 0 ? [] : ['none']);

  const resolvedMs = serverAlive() ? await checkNothingPending(checks, s.client, back) : null;
  if (!serverAlive()) checks.that(`no journal entry PENDING within ${RESOLVED_WITHIN_MS} ms of the return`, ['not checked: the server is gone']);
  const { meta, agreedMs } = await checkAgreement(checks, s.client, root, back);
  await checks.attempt('every acknowledged write is present (GetNode / ReadFile)', async () => ({ result: null, problems: await acknowledgedMissing(s.client, load.acknowledged) }));
  if (meta) checks.that('the tree holds only what commands (acknowledged or in doubt) made', unexplained(meta, load));

  const inFlightAtKill = load.calls.filter((c) => c.startedAt < killStarted && c.endedAt >= killStarted);
  const ok = load.calls.filter((c) => c.code === grpcStatus.OK);
  t.log(`writes acknowledged: ${ok.length} of ${load.calls.length} calls (${tally(ok.map((c) => c.op))}); ${ackedAfterReturn} after the database returned; ${load.inDoubt.length} in doubt`);
  t.log(`outage ${Math.round(restartStarted - down)} ms (kill -9 took ${Math.round(down - killStarted)} ms), restart with crash recovery ${Math.round(back - restartStarted)} ms`);
  t.log(`calls in flight at the kill: ${inFlightAtKill.length} (${tally(inFlightAtKill.map((c) => grpcStatusName(c.code)))}), slowest ${Math.round(Math.max(0, ...inFlightAtKill.map((c) => c.endedAt - killStarted)))} ms after the kill`);
  t.log(`calls started during the outage: ${outage.calls} (${outage.codes}), slowest ${outage.slowestMs} ms`);
  t.log(`health: ${healthFigures}`);
  const resolved = !serverAlive() ? 'not checked (the server is gone)' : resolvedMs === null ? `not reached within ${RESOLVED_WITHIN_MS} ms` : `${resolvedMs} ms after the database returned`;
  t.log(`no journal entry PENDING: ${resolved}; nodes agree with the disk, no staging left: ${agreedMs === null ? `not within ${RESOLVED_WITHIN_MS} ms` : `${agreedMs} ms after the database returned`}`);
  checks.report(t);
});

/**
 * Collects every check's problems, so that all of them are logged: AVA reports only the first
 * failed assertion of a test.
 */
class Checks {
  private readonly results: { name: string; problems: string[] }[] = [];

  that(name: string, problems: string[]): void {
    this.results.push({ name, problems });
  }

  /** A check that needs the server: a failed call is one of its problems. */
  async attempt<T>(name: string, fn: () => Promise<{ result: T; problems: string[] }>): Promise<T | null> {
    try {
      const { result, problems } = await fn();
      this.that(name, problems);
      return result;
    } catch (err) {
      this.that(name, [`could not check: ${(err as Error).message}`]);
      return null;
    }
  }

  report(t: ExecutionContext): void {
    for (const { name, problems } of this.results) {
      const shown = problems.slice(0, 8).join('\n      ');
      t.log(`${problems.length ? 'FAILED' : 'ok'}: ${name}${problems.length ? `\n      ${shown}${problems.length > 8 ? `\n      … ${problems.length - 8} more` : ''}` : ''}`);
    }
    for (const { name, problems } of this.results) t.deepEqual(problems, [], name);
  }
}

/** NOT_SERVING seen while the database was down, SERVING again after it returned; returns the figures. */
function checkHealth(checks: Checks, samples: HealthSample[], killStarted: number, restartStarted: number, back: number): string {
  const before = samples.filter((h) => h.at < killStarted);
  const during = samples.filter((h) => h.at >= killStarted && h.at < restartStarted);
  const after = samples.filter((h) => h.at >= back);
  checks.that('health said SERVING before the kill', before.length && before.every((h) => h.status === 'SERVING') ? [] : [tally(before.map((h) => h.status))]);
  const firstNotServing = during.find((h) => h.status === 'NOT_SERVING');
  checks.that('health said NOT_SERVING while the database was down', firstNotServing ? [] : [`it said ${tally(during.map((h) => h.status))}`]);
  const servingAgain = after.find((h) => h.status === 'SERVING');
  checks.that('health said SERVING again after the database returned', servingAgain ? [] : [`it said ${tally(after.map((h) => h.status))}`]);
  const ms = (x: HealthSample | undefined, from: number) => (x ? `${Math.round(x.at - from)} ms` : 'never');
  return `during the outage ${tally(during.map((h) => h.status))}; NOT_SERVING ${ms(firstNotServing, killStarted)} after the kill, SERVING ${ms(servingAgain, back)} after the return`;
}

/** Every call started in [from, until) (the database down, the server up) ended within FAIL_FAST_MS, with UNAVAILABLE. */
function checkFailFast(checks: Checks, calls: CallRecord[], from: number, until: number) {
  const during = calls.filter((c) => c.startedAt >= from && c.startedAt < until);
  checks.that('calls were made to the server while the database was down', during.length ? [] : ['none']);
  const slow = during.filter((c) => c.endedAt - c.startedAt > FAIL_FAST_MS);
  checks.that(`calls started during the outage ended within ${FAIL_FAST_MS} ms`, slow.map(describe));
  // One that ended after the restart began may have reached the returned database: then OK is fine too.
  const wrong = during.filter((c) => c.code !== grpcStatus.UNAVAILABLE && !(c.code === grpcStatus.OK && c.endedAt >= until));
  checks.that('calls started during the outage failed with UNAVAILABLE', wrong.map(describe));
  return {
    calls: during.length,
    codes: tally(during.map((c) => grpcStatusName(c.code))),
    slowestMs: Math.round(Math.max(0, ...during.map((c) => c.endedAt - c.startedAt))),
  };
}

/** Polls for PENDING journal entries until there are none, at most until RESOLVED_WITHIN_MS after `back`; returns how long after `back` that was (null: never). */
async function checkNothingPending(checks: Checks, c: TestClient, back: number): Promise<number | null> {
  let pending: string[] = [];
  for (;;) {
    try {
      pending = (await journalAll(c, { status: STATUS.PENDING })).entries.map((e) => `${e.id} ${e.command} ${e.path}`);
    } catch (err) {
      pending = [`ListJournalEntries failed: ${(err as Error).message}`];
    }
    if (pending.length === 0 || performance.now() - back > RESOLVED_WITHIN_MS) break;
    await sleep(200);
  }
  checks.that(`no journal entry PENDING within ${RESOLVED_WITHIN_MS} ms of the return`, pending);
  return pending.length === 0 ? Math.round(performance.now() - back) : null;
}

/**
 * Polls until the nodes agree with the disk and staging is empty (commands the outage left in doubt
 * are resolved by then), at most until RESOLVED_WITHIN_MS after `back`; records what still differs.
 */
async function checkAgreement(checks: Checks, c: TestClient, root: string, back: number): Promise<{ meta: Tree | null; agreedMs: number | null }> {
  for (;;) {
    let meta: Tree | null = null;
    let differ: string[];
    try {
      meta = await metadataTree(c, { hashes: true });
      differ = treeDiff(meta, await diskTree(root, { hashes: true }));
    } catch (err) {
      differ = [`could not check: ${(err as Error).message}`];
    }
    const staged = await stagingFiles(root);
    const late = performance.now() - back > RESOLVED_WITHIN_MS;
    if ((differ.length === 0 && staged.length === 0) || late) {
      checks.that('the nodes table agrees with the disk', differ);
      checks.that('no staging leftovers (files, however deep)', staged);
      return { meta, agreedMs: differ.length === 0 && staged.length === 0 ? Math.round(performance.now() - back) : null };
    }
    await sleep(250);
  }
}

/** Acknowledged paths that GetNode / ReadFile do not show as acknowledged. */
async function acknowledgedMissing(c: TestClient, acknowledged: Map<string, Expected>): Promise<string[]> {
  const problems: string[] = [];
  await pool([...acknowledged], 8, async ([p, expected]) => {
    try {
      if (expected.kind === 'DIRECTORY') {
        const { node } = await c.fs('getNode', { backendId: 1, path: p });
        if (node?.kind !== NodeKind.NODE_KIND_DIRECTORY) problems.push(`${p}: not a directory`);
        return;
      }
      const got = await readHashed(c, { path: p });
      if (got.size !== expected.size || got.sha256 !== expected.sha256) problems.push(`${p}: ${got.size} bytes ${got.sha256}, acknowledged ${expected.size} bytes ${expected.sha256}`);
    } catch (err) {
      problems.push(`${p}: ${grpcStatusName((err as { code: number }).code)} ${(err as Error).message}`);
    }
  });
  return problems.sort();
}

/**
 * Paths of the tree that neither an acknowledged command nor one in doubt explains, or that hold
 * something else; and commands in doubt whose paths hold neither the old state nor the new one.
 */
function unexplained(tree: Tree, load: WriteLoad): string[] {
  const problems: string[] = [];
  const holds = (p: string, e: Expected) => {
    const n = tree.get(p);
    return !!n && n.kind === e.kind && (e.kind === 'DIRECTORY' || (n.size === e.size && n.sha256 === e.sha256));
  };
  const explained = new Set(load.acknowledged.keys());
  for (const d of load.inDoubt) {
    if (d.op === 'CreateDirectory') explained.add(d.path);
    else if (d.op === 'WriteFile') {
      explained.add(d.path);
      if (tree.has(d.path) && !holds(d.path, d.expected)) problems.push(`${d.path}: a failed WriteFile left other content`);
    } else {
      explained.add(d.from).add(d.to);
      if (holds(d.from, d.expected) === holds(d.to, d.expected)) problems.push(`${d.from} -> ${d.to}: a failed MoveNode left the file at ${holds(d.from, d.expected) ? 'both' : 'neither'}`);
    }
  }
  const ancestors = new Set<string>();
  for (const p of explained) for (let at = p.indexOf('/'); at > 0; at = p.indexOf('/', at + 1)) ancestors.add(p.slice(0, at));
  for (const p of tree.keys()) if (!explained.has(p) && !ancestors.has(p)) problems.push(`${p}: made by no command`);
  return problems.sort();
}

/** Every file under the staging areas, however deep (per-instance directories and all). */
async function stagingFiles(root: string): Promise<string[]> {
  const staging = path.join(root, '.filestore', 'staging');
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path.join(staging, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else out.push(p);
    }
  };
  await walk('');
  return out.sort();
}

function describe(c: CallRecord): string {
  return `${c.op} ${c.path}: ${grpcStatusName(c.code)} after ${Math.round(c.endedAt - c.startedAt)} ms`;
}

/** "A×3, B×1". */
function tally(items: string[]): string {
  const counts = new Map<string, number>();
  for (const i of items) counts.set(i, (counts.get(i) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k}×${n}`).join(', ') || 'none';
}
