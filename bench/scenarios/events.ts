// Events (docs/architecture.md#performance-targets: "event delivery, commit → subscriber, 1,000
// events/s, 10 subscribers: p99 ≤ 20 ms; writers keep ≥ 90% of their rate"), against the real server
// only (the twin has no events).
//
//   delivery   open loop: CreateDirectory sent at a fixed 500/s (each commits 2 events, node.created and
//              command.completed: 1,000 events/s) from the bench process, whatever the responses do; 10
//              subscribers in a child process (event-subscribers.ts) note when each command's
//              filestore.command.completed reaches them. Per command and subscriber: arrival − the
//              response's arrival at the load generator (the commit happened before the response left,
//              so this is a lower bound of commit → subscriber), and arrival − the request's send (an
//              upper bound). One warm-up second first, then FILESTORE_BENCH_SECONDS measured.
//   writers    the closed-loop CreateDirectory c=16 point (create-directory.ts) without subscribers,
//              with the 10 subscribers attached and reading, and without again; the ratio is "with" over
//              the mean of the two "without" runs, which bracket it so that drift (a growing database)
//              cancels out.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../lib/client.js';
import { defer, trackChild } from '../lib/cleanup.js';
import { percentile, type LoopResult } from '../lib/closed-loop.js';
import { REPO_ROOT } from '../lib/env.js';
import { childEnv, cpuWindow, type CpuShare } from '../lib/proc.js';
import { createDirectoryPoint } from './create-directory.js';
import type { Ctx } from './common.js';

export const EVENT_SUBSCRIBERS = 10;
export const EVENT_WRITERS = 16;
/** How long the subscribers get to receive the last commands' events once the load stopped. */
const DRAIN_MS = 5_000;
/** Requests in flight beyond which the open loop stops sending (the server cannot keep up): counted as skipped. */
const MAX_IN_FLIGHT = 2_000;

const nowMs = () => Number(process.hrtime.bigint()) / 1e6; // CLOCK_MONOTONIC, as in the subscriber process

export interface Spread {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface DeliveryResult {
  subscribers: number;
  targetCommandsPerSec: number;
  /** Directories each command creates (each one event, plus the command's filestore.command.completed). */
  dirsPerCommand: number;
  seconds: number;
  /** Commands sent in the measured window, answered successfully, failed, and not sent because too many were in flight. */
  sent: number;
  ok: number;
  errors: number;
  firstError?: string;
  skipped: number;
  /** Achieved rates: answered commands per second and the events they committed. */
  commandsPerSec: number;
  eventsPerSec: number;
  /** Response time at the load generator (send → response). */
  writer: Spread;
  /** Subscriber arrival − response arrival, over every (command, subscriber) pair. */
  afterResponse: Spread;
  /** Subscriber arrival − request send. */
  afterSend: Spread;
  /** (command, subscriber) pairs expected and received within the drain time. */
  expected: number;
  delivered: number;
  /** Pairs where the event reached the subscriber before the response reached the load generator. */
  beforeResponse: number;
  /** p99 of arrival − response per subscriber, to see whether one of them lags. */
  perSubscriberP99Ms: number[];
  cpu: CpuShare;
}

export interface WritersResult {
  subscribers: number;
  without: LoopResult[];
  with: LoopResult;
  /** with.opsPerSec / mean(without.opsPerSec). */
  ratio: number;
}

export interface EventsResult {
  delivery: DeliveryResult;
  writers: WritersResult;
}

// --- the subscriber process ------------------------------------------------------------------------

interface Subscribers {
  pid: number;
  record(on: boolean): void;
  allSeen(journalId: number): Promise<boolean>;
  collect(from: number, to: number): Promise<{ arrivals: [number, number][][]; received: number[] }>;
  failure(): string | null;
  stop(): Promise<void>;
}

async function startSubscribers(address: string, count: number): Promise<Subscribers> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench/scenarios/event-subscribers.ts')], {
    cwd: REPO_ROOT,
    env: childEnv({ SUBS_ADDR: address, SUBS_COUNT: String(count) }),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  trackChild(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let failed: string | null = null;
  let nextId = 0;
  const pending = new Map<number, (msg: any) => void>();
  const opened = new Promise<void>((resolve, reject) => {
    child.on('message', (msg: any) => {
      if (msg.op === 'open') resolve();
      else if (msg.op === 'failed') failed ??= msg.message;
      else pending.get(msg.id)?.(msg);
    });
    child.once('exit', (code, signal) => reject(new Error(`the subscriber process exited (${code ?? signal})`)));
  });
  const ask = <T>(msg: object): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, (res) => {
        pending.delete(id);
        resolve(res as T);
      });
      child.send({ ...msg, id }, (err) => err && reject(err));
    });
  const stop = defer(`stop the event subscribers (pid ${child.pid})`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.send({ op: 'stop' });
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  });
  try {
    await opened;
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid: child.pid!,
    record: (on) => child.send({ op: 'record', on }),
    allSeen: async (journalId) => (await ask<{ all: boolean }>({ op: 'seen', journalId })).all,
    collect: (from, to) => ask({ op: 'collect', from, to }),
    failure: () => failed,
    stop,
  };
}

/**
 * Subscriptions start "from now" when the server has placed them, which the client cannot see: create
 * probe directories until every subscriber has received one's completion.
 */
async function waitUntilLive(ctx: Ctx, subs: Subscribers, parent: string): Promise<void> {
  subs.record(true);
  const deadline = performance.now() + 15_000;
  for (let i = 0; ; i++) {
    const res = await ctx.target.client.createDirectory(`${parent}/probe-${i}`);
    const until = performance.now() + 500;
    while (performance.now() < until) {
      if (await subs.allSeen(Number(res.journalId))) return;
      if (subs.failure()) throw new Error(subs.failure()!);
      await sleep(20);
    }
    if (performance.now() > deadline) throw new Error('the event subscribers did not receive the probe events within 15 s');
  }
}

// --- delivery latency ------------------------------------------------------------------------------

interface Sent {
  sendMs: number;
  responseMs: number;
  journalId: number;
}

/**
 * The path command `i` creates: one new directory, or with `dirs` > 1 a chain of that many (`parents`), each
 * committing its own filestore.node.created.
 */
function commandPath(parent: string, tag: string, i: number, dirs: number): string {
  let p = `${parent}/${tag}-${i}`;
  for (let d = 1; d < dirs; d++) p += `/d${d}`;
  return p;
}

/** Sends CreateDirectory at `rate` per second for `ms`, without waiting for answers; resolves when all answered. */
async function openLoop(ctx: Ctx, parent: string, tag: string, rate: number, ms: number) {
  const client = ctx.target.client;
  const dirs = ctx.settings.eventDirsPerCommand;
  const interval = 1000 / rate;
  const sent: Sent[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let skipped = 0;
  let inFlight = 0;
  const answers: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; ; ) {
    const elapsed = performance.now() - start;
    if (elapsed >= ms) break;
    // Everything due by now goes out now: a late timer does not lower the rate.
    for (const due = Math.floor(elapsed / interval) + 1; i < due; i++) {
      if (inFlight >= MAX_IN_FLIGHT) {
        skipped++;
        continue;
      }
      inFlight++;
      const sendMs = nowMs();
      answers.push(
        client.createDirectory(commandPath(parent, tag, i, dirs), dirs > 1).then(
          (res) => {
            sent.push({ sendMs, responseMs: nowMs(), journalId: Number(res.journalId) });
            inFlight--;
          },
          (err) => {
            errors++;
            firstError ??= describeError(err);
            inFlight--;
          },
        ),
      );
    }
    await sleep(Math.max(0, start + i * interval - performance.now()));
  }
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(answers);
  // The answered rate counts until the last answer: a server that falls behind answers below the sending rate.
  const answeredSeconds = (performance.now() - start) / 1000;
  return { sent, errors, firstError, skipped, seconds, answeredSeconds, attempted: answers.length + skipped };
}

function spread(values: number[]): Spread {
  const sorted = Float64Array.from(values).sort();
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.length ? sorted[sorted.length - 1] : Number.NaN };
}

async function delivery(ctx: Ctx, subs: Subscribers, parent: string): Promise<DeliveryResult> {
  const { settings } = ctx;
  await openLoop(ctx, parent, 'warm', settings.eventCommandsPerSec, settings.warmupSeconds * 1000);
  subs.record(true);
  const stopCpu = cpuWindow(ctx.target.pid, ctx.target.database, [subs.pid]);
  const run = await openLoop(ctx, parent, 'run', settings.eventCommandsPerSec, settings.seconds * 1000);
  const cpu = stopCpu();

  const ids = run.sent.map((s) => s.journalId);
  const from = ids.reduce((a, b) => Math.min(a, b), Infinity);
  const to = ids.reduce((a, b) => Math.max(a, b), -Infinity);
  const expected = run.sent.length * EVENT_SUBSCRIBERS;
  let collected = await subs.collect(from, to);
  const drainUntil = performance.now() + DRAIN_MS;
  const count = (c: typeof collected) => c.arrivals.reduce((n, a) => n + a.length, 0);
  while (count(collected) < expected && performance.now() < drainUntil) {
    await sleep(100);
    collected = await subs.collect(from, to);
  }
  subs.record(false);
  if (subs.failure()) throw new Error(subs.failure()!);

  const byJournal = new Map(run.sent.map((s) => [s.journalId, s]));
  const afterResponse: number[] = [];
  const afterSend: number[] = [];
  const perSubscriberP99Ms: number[] = [];
  let beforeResponse = 0;
  for (const arrivals of collected.arrivals) {
    const mine: number[] = [];
    for (const [journalId, atMs] of arrivals) {
      const s = byJournal.get(journalId);
      if (!s) continue; // a probe or warm-up command in the id range
      const d = atMs - s.responseMs;
      if (d < 0) beforeResponse++;
      afterResponse.push(d);
      afterSend.push(atMs - s.sendMs);
      mine.push(d);
    }
    perSubscriberP99Ms.push(spread(mine).p99Ms);
  }
  return {
    subscribers: EVENT_SUBSCRIBERS,
    targetCommandsPerSec: settings.eventCommandsPerSec,
    dirsPerCommand: settings.eventDirsPerCommand,
    seconds: run.seconds,
    sent: run.attempted - run.skipped,
    ok: run.sent.length,
    errors: run.errors,
    ...(run.firstError ? { firstError: run.firstError } : {}),
    skipped: run.skipped,
    commandsPerSec: run.sent.length / run.answeredSeconds,
    eventsPerSec: (run.sent.length * (settings.eventDirsPerCommand + 1)) / run.answeredSeconds,
    writer: spread(run.sent.map((s) => s.responseMs - s.sendMs)),
    afterResponse: spread(afterResponse),
    afterSend: spread(afterSend),
    expected,
    delivered: afterResponse.length,
    beforeResponse,
    perSubscriberP99Ms,
    cpu,
  };
}

// --- the scenario ----------------------------------------------------------------------------------

export async function eventsScenario(ctx: Ctx, log: (msg: string) => void): Promise<EventsResult> {
  const base = 'bench/events';
  await ctx.target.client.createDirectory(`${base}/delivery`, true);
  const writerPoint = (label: string, c: Ctx) => createDirectoryPoint(c, EVENT_WRITERS, `${base}/writers-${label}`);

  // Not measured: brings a fresh server (FILESTORE_BENCH_ONLY=events) to where the other points find it.
  await writerPoint('warm-up', ctx);
  const without: LoopResult[] = [];
  without.push(await writerPoint('without-1', ctx));
  log(`  CreateDirectory c=${EVENT_WRITERS}, no subscribers: ${without[0].opsPerSec.toFixed(0)} ops/s`);

  const subs = await startSubscribers(ctx.target.client.address, EVENT_SUBSCRIBERS);
  let result: { delivery: DeliveryResult; with: LoopResult };
  try {
    await waitUntilLive(ctx, subs, `${base}/delivery`);
    const d = await delivery(ctx, subs, `${base}/delivery`);
    log(
      `  delivery at ${ctx.settings.eventCommandsPerSec} CreateDirectory/s to ${EVENT_SUBSCRIBERS} subscribers: ${d.delivered}/${d.expected} received, ` +
        `arrival − response p50 ${d.afterResponse.p50Ms.toFixed(2)} ms p99 ${d.afterResponse.p99Ms.toFixed(2)} ms, ` +
        `arrival − send p50 ${d.afterSend.p50Ms.toFixed(2)} ms p99 ${d.afterSend.p99Ms.toFixed(2)} ms`,
    );
    const withSubs = await writerPoint('with', { ...ctx, target: { ...ctx.target, helperPids: [subs.pid] } });
    if (subs.failure()) throw new Error(subs.failure()!);
    log(`  CreateDirectory c=${EVENT_WRITERS}, ${EVENT_SUBSCRIBERS} subscribers: ${withSubs.opsPerSec.toFixed(0)} ops/s`);
    result = { delivery: d, with: withSubs };
  } finally {
    await subs.stop();
  }

  without.push(await writerPoint('without-2', ctx));
  log(`  CreateDirectory c=${EVENT_WRITERS}, no subscribers again: ${without[1].opsPerSec.toFixed(0)} ops/s`);
  const baseline = without.reduce((n, r) => n + r.opsPerSec, 0) / without.length;
  return {
    delivery: result.delivery,
    writers: { subscribers: EVENT_SUBSCRIBERS, without, with: result.with, ratio: result.with.opsPerSec / baseline },
  };
}
