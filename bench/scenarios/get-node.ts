// GetNode: stat one 4 KiB file (no rollup), or its directory (with its rollup and rollup state), the
// same request on every call.
import { randomBytes } from 'node:crypto';
import type { GetNodeRequest, GetNodeResponse } from '../../gen/filestore/v1/filestore_service.js';
import { BACKEND_ID } from '../lib/client.js';
import type { LoopResult } from '../lib/closed-loop.js';
import { type Ctx, unaryPoint } from './common.js';

const DIR = 'bench/get';
const PATH = `${DIR}/target.bin`;

async function statPoint(ctx: Ctx, concurrency: number, path: string, wrong: (res: GetNodeResponse) => string | null): Promise<LoopResult> {
  const { target, settings } = ctx;
  const content = randomBytes(settings.smallFileBytes);
  await target.client.write(PATH, content, content.length, { overwrite: true, parents: true });
  const req: GetNodeRequest = { backendId: BACKEND_ID, path, nodeId: 0 };
  return unaryPoint(ctx, concurrency, async () => {
    const problem = wrong(await target.client.getNode(req));
    if (problem) throw new Error(problem);
  });
}

export const getNodePoint = (ctx: Ctx, concurrency: number) =>
  statPoint(ctx, concurrency, PATH, (res) => (res.node?.path === PATH ? null : `GetNode answered ${JSON.stringify(res.node?.path)}`));

export const getDirectoryPoint = (ctx: Ctx, concurrency: number) =>
  statPoint(ctx, concurrency, DIR, (res) =>
    res.node?.path === DIR && res.node.rollup ? null : `GetNode of a directory answered ${JSON.stringify(res.node?.path)} without a rollup`,
  );
