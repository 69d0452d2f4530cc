// GetNode: stat one 4 KiB file (no rollup), or its directory (with its rollup and rollup state), the
// same request on every call.
import { randomBytes } from 'node:crypto';
import type { GetNodeRequest } from '../../gen/filestore/v1/filestore_service.js';
import { BACKEND_ID } from '../lib/client.js';
import type { LoopResult } from '../lib/closed-loop.js';
import { type Ctx, unaryPoint } from './common.js';

const DIR = 'bench/get';
const PATH = `${DIR}/target.bin`;

export async function getNodePoint(ctx: Ctx, concurrency: number): Promise<LoopResult> {
  const { target, settings } = ctx;
  const content = randomBytes(settings.smallFileBytes);
  await target.client.write(PATH, content, content.length, { overwrite: true, parents: true });
  const req: GetNodeRequest = { backendId: BACKEND_ID, path: PATH, nodeId: 0 };
  return unaryPoint(ctx, concurrency, async () => {
    const res = await target.client.getNode(req);
    if (res.node?.path !== PATH) throw new Error(`GetNode answered ${JSON.stringify(res.node?.path)}`);
  });
}

export async function getDirectoryPoint(ctx: Ctx, concurrency: number): Promise<LoopResult> {
  const { target, settings } = ctx;
  const content = randomBytes(settings.smallFileBytes);
  await target.client.write(PATH, content, content.length, { overwrite: true, parents: true });
  const req: GetNodeRequest = { backendId: BACKEND_ID, path: DIR, nodeId: 0 };
  return unaryPoint(ctx, concurrency, async () => {
    const res = await target.client.getNode(req);
    if (res.node?.path !== DIR || !res.node.rollup) throw new Error(`GetNode of a directory answered ${JSON.stringify(res.node?.path)} without a rollup`);
  });
}
