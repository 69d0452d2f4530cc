// CreateDirectory: each call makes a new directory in one parent per point.
import { closedLoop, type LoopResult } from '../lib/closed-loop.js';
import { cpuWindow } from '../lib/proc.js';
import { entryName, type Ctx } from './common.js';

export async function createDirectoryPoint({ target, settings }: Ctx, concurrency: number): Promise<LoopResult> {
  const parent = `bench/mkdir/c${concurrency}`;
  await target.client.createDirectory(parent, true);
  return closedLoop({
    concurrency,
    warmupSeconds: settings.warmupSeconds,
    seconds: settings.seconds,
    maxCalls: settings.maxCallsPerPoint,
    probe: () => cpuWindow(target.pid, target.database),
    op: async (w, seq) => {
      const res = await target.client.createDirectory(`${parent}/${entryName(w, seq)}`);
      if (!res.node?.id) throw new Error('CreateDirectory answered without a node');
    },
  });
}
