// 4 KiB WriteFile: each call uploads a new file (header + one chunk) into one parent per point.
import { randomBytes } from 'node:crypto';
import { closedLoop, type LoopResult } from '../lib/closed-loop.js';
import { cpuWindow } from '../lib/proc.js';
import { entryName, type Ctx } from './common.js';

export async function writeSmallPoint({ target, settings }: Ctx, concurrency: number): Promise<LoopResult> {
  const parent = `bench/w4k/c${concurrency}`;
  await target.client.createDirectory(parent, true);
  const content = randomBytes(settings.smallFileBytes);
  return closedLoop({
    concurrency,
    warmupSeconds: settings.warmupSeconds,
    seconds: settings.seconds,
    maxCalls: settings.maxCallsPerPoint,
    probe: () => cpuWindow(target.pid, target.database),
    op: async (w, seq) => {
      const res = await target.client.write(`${parent}/${entryName(w, seq)}.bin`, content, content.length);
      if (res.node?.sizeBytes !== content.length) throw new Error(`WriteFile stored ${res.node?.sizeBytes} bytes, not ${content.length}`);
    },
  });
}
