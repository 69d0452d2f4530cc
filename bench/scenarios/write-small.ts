// 4 KiB WriteFile: each call uploads a new file (header + one chunk) into one parent per point.
import { randomBytes } from 'node:crypto';
import type { LoopResult } from '../lib/closed-loop.js';
import { entryName, type Ctx, unaryPoint } from './common.js';

export async function writeSmallPoint(ctx: Ctx, concurrency: number): Promise<LoopResult> {
  const { target, settings } = ctx;
  const parent = `bench/w4k/c${concurrency}`;
  await target.client.createDirectory(parent, true);
  const content = randomBytes(settings.smallFileBytes);
  return unaryPoint(ctx, concurrency, async (w, seq) => {
    const res = await target.client.write(`${parent}/${entryName(w, seq)}.bin`, content, content.length);
    if (res.node?.sizeBytes !== content.length) throw new Error(`WriteFile stored ${res.node?.sizeBytes} bytes, not ${content.length}`);
  });
}
