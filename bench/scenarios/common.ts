// What every scenario gets: the client for one target (the real server or the twin) and the settings.
import type { BenchClient } from '../lib/client.js';
import { closedLoop, type LoopResult, type Op } from '../lib/closed-loop.js';
import { cpuWindow } from '../lib/proc.js';
import type { Settings } from '../lib/env.js';

export type TargetKind = 'ours' | 'twin';

export interface Target {
  kind: TargetKind;
  client: BenchClient;
  pid: number;
  /** The PostgreSQL database the target uses, whose backends' CPU is accounted; none for the twin and PGlite. */
  database?: string;
  /** Client-side processes besides the bench process (the events scenario's subscribers): their CPU counts as client. */
  helperPids?: number[];
}

export interface Ctx {
  target: Target;
  settings: Settings;
}

/** A file or directory name for call `seq` of `worker` (warm-up calls have negative seq). */
export function entryName(worker: number, seq: number): string {
  return seq < 0 ? `warm-${worker}-${-seq}` : `${worker}-${seq}`;
}

export const MiB = 1024 * 1024;

/** A closed-loop point against the target with the run's settings, CPU accounted for its process and database. */
export function unaryPoint({ target, settings }: Ctx, concurrency: number, op: Op): Promise<LoopResult> {
  return closedLoop({
    concurrency,
    warmupSeconds: settings.warmupSeconds,
    seconds: settings.seconds,
    maxCalls: settings.maxCallsPerPoint,
    probe: () => cpuWindow(target.pid, target.database, target.helperPids),
    op,
  });
}
