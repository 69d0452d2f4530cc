// CreateDirectory: each call makes a new directory in one parent per point (by default one per concurrency;
// a point that runs more than once on the same server names its own).
import type { LoopResult } from '../lib/closed-loop.js';
import { entryName, type Ctx, unaryPoint } from './common.js';

export async function createDirectoryPoint(ctx: Ctx, concurrency: number, parent = `bench/mkdir/c${concurrency}`): Promise<LoopResult> {
  const { target } = ctx;
  await target.client.createDirectory(parent, true);
  return unaryPoint(ctx, concurrency, async (w, seq) => {
    const res = await target.client.createDirectory(`${parent}/${entryName(w, seq)}`);
    if (!res.node?.id) throw new Error('CreateDirectory answered without a node');
  });
}
