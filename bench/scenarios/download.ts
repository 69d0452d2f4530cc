// Download: ReadFile of the file the upload scenario left (the twin streams the same number
// of bytes from its preallocated buffer); chunks are counted, not kept.
import { BACKEND_ID } from '../lib/client.js';
import type { Ctx } from './common.js';
import { BIG_PATH, WARMUP_BYTES, type Transfer } from './streaming.js';

export function downloadTransfer({ target, settings }: Ctx): Transfer {
  const bytes = settings.streamBytes;
  const read = async (length: number) => {
    const res = await target.client.read({ backendId: BACKEND_ID, path: BIG_PATH, nodeId: 0, offset: 0, length });
    if (res.bytes !== length) throw new Error(`download delivered ${res.bytes} bytes, not ${length}`);
    if (!res.node) throw new Error('download did not start with the node');
  };
  return {
    warmup: () => read(Math.min(WARMUP_BYTES, bytes)),
    once: () => read(bytes),
  };
}
