// Closed-loop load: `concurrency` workers, each with one call in flight at a time, first for
// the warm-up and then for the measured duration. Latency is per call, in milliseconds.
import { performance } from 'node:perf_hooks';
import { describeError } from './client.js';
import type { CpuShare } from './proc.js';

export interface LoopResult {
  concurrency: number;
  calls: number;
  errors: number;
  firstError?: string;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU used over the measured phase, when a probe was given. */
  cpu?: CpuShare;
}

/** `op(worker, seq)`: seq is unique within the point (warm-up calls are negative). */
export type Op = (worker: number, seq: number) => Promise<unknown>;

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

interface Phase {
  latencies: number[];
  errors: number;
  firstError?: string;
}

async function phase(concurrency: number, ms: number, maxCalls: number, op: Op, seqBase: number, sign: 1 | -1, record: boolean): Promise<Phase & { seconds: number }> {
  const out: Phase = { latencies: [], errors: 0 };
  const start = performance.now();
  const end = start + ms;
  let next = 0;
  const worker = async (w: number) => {
    while (performance.now() < end && next < maxCalls) {
      const seq = sign * (seqBase + next++);
      const t0 = performance.now();
      try {
        await op(w, seq);
        if (record) out.latencies.push(performance.now() - t0);
      } catch (err) {
        out.errors++;
        out.firstError ??= describeError(err);
        // A failing target answers instantly: pause briefly so that errors cannot spin the loop.
        if (out.errors > 1000) await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return { ...out, seconds: (performance.now() - start) / 1000 };
}

export interface LoopOptions {
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
  maxCalls: number;
  op: Op;
  /** Started with the measured phase; its result is returned as `cpu`. */
  probe?: () => () => CpuShare;
}

export async function closedLoop(opts: LoopOptions): Promise<LoopResult> {
  const { concurrency, op } = opts;
  const warm = await phase(concurrency, opts.warmupSeconds * 1000, opts.maxCalls, op, 1, -1, false);
  const stopProbe = opts.probe?.();
  const run = await phase(concurrency, opts.seconds * 1000, opts.maxCalls, op, 0, 1, true);
  const cpu = stopProbe?.();
  const sorted = Float64Array.from(run.latencies).sort();
  const errors = warm.errors + run.errors;
  return {
    concurrency,
    calls: sorted.length,
    errors,
    firstError: warm.firstError ?? run.firstError,
    seconds: run.seconds,
    opsPerSec: sorted.length / run.seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    ...(cpu ? { cpu } : {}),
  };
}
