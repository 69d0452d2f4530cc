// Shared by upload and download: each target is warmed up, then the timed runs alternate
// between the twin and the real server (twin, ours, twin, ours, …) so that a burst of
// background load hits both alike; the median run is reported.
import { performance } from 'node:perf_hooks';
import { cpuWindow, type CpuShare } from '../lib/proc.js';
import { MiB, type Ctx, type TargetKind } from './common.js';

export interface StreamResult {
  bytes: number;
  runs: number[];
  /** Median of the runs. */
  MiBps: number;
  /** CPU used over the timed runs (time-weighted mean). */
  cpu: CpuShare;
}

/** One target's transfer: `warmup` once, then `once` per timed run. */
export interface Transfer {
  warmup(): Promise<void>;
  once(): Promise<void>;
}

export const BIG_PATH = 'bench/stream/big.bin';
export const WARMUP_BYTES = 32 * 1024 * 1024;

export async function interleaved(ctxs: Record<TargetKind, Ctx>, make: (ctx: Ctx) => Transfer, runs: number): Promise<Record<TargetKind, StreamResult>> {
  const kinds: TargetKind[] = ['twin', 'ours'];
  const transfers = { twin: make(ctxs.twin), ours: make(ctxs.ours) };
  const seconds: Record<TargetKind, number[]> = { twin: [], ours: [] };
  const cpu: Record<TargetKind, CpuShare> = { twin: { server: 0, client: 0, db: 0, rest: 0 }, ours: { server: 0, client: 0, db: 0, rest: 0 } };
  for (const k of kinds) await transfers[k].warmup();
  for (let i = 0; i < runs; i++) {
    for (const k of kinds) {
      const { target } = ctxs[k];
      const stop = cpuWindow(target.pid, target.database);
      const t0 = performance.now();
      await transfers[k].once();
      const s = (performance.now() - t0) / 1000;
      const share = stop();
      seconds[k].push(s);
      for (const f of ['server', 'client', 'db', 'rest'] as const) cpu[k][f] += share[f] * s;
    }
  }
  const result = {} as Record<TargetKind, StreamResult>;
  for (const k of kinds) {
    const bytes = ctxs[k].settings.streamBytes;
    const total = seconds[k].reduce((a, b) => a + b, 0);
    const runsMiBps = seconds[k].map((s) => bytes / MiB / s);
    const sorted = [...runsMiBps].sort((a, b) => a - b);
    const mean = (f: 'server' | 'client' | 'db' | 'rest') => cpu[k][f] / total;
    result[k] = {
      bytes,
      runs: runsMiBps,
      MiBps: sorted[Math.floor(sorted.length / 2)],
      cpu: { server: mean('server'), client: mean('client'), db: mean('db'), rest: mean('rest') },
    };
  }
  return result;
}
