// Upload: WriteFile of one large file in 1 MiB chunks (overwriting it on each run); the
// real server's answer must carry the size and the SHA-256 of what was sent.
import { createHash, randomBytes } from 'node:crypto';
import type { Ctx } from './common.js';
import { BIG_PATH, WARMUP_BYTES, type Transfer } from './streaming.js';

let content: { chunk: Buffer; sha256: Map<number, string> } | undefined;

/** The same chunk repeated: its SHA-256 over `bytes` is computed once per size, outside the timing. */
function contentFor(chunkBytes: number, bytes: number): { chunk: Buffer; sha256: string } {
  content ??= { chunk: randomBytes(chunkBytes), sha256: new Map() };
  let sha = content.sha256.get(bytes);
  if (!sha) {
    const h = createHash('sha256');
    for (let at = 0; at < bytes; at += chunkBytes) h.update(bytes - at >= chunkBytes ? content.chunk : content.chunk.subarray(0, bytes - at));
    sha = h.digest('hex');
    content.sha256.set(bytes, sha);
  }
  return { chunk: content.chunk, sha256: sha };
}

export function uploadTransfer({ target, settings }: Ctx): Transfer {
  const { streamBytes: bytes, chunkBytes } = settings;
  const { chunk, sha256 } = contentFor(chunkBytes, bytes);
  return {
    async warmup() {
      await target.client.write('bench/stream/warmup.bin', chunk, Math.min(WARMUP_BYTES, bytes), { overwrite: true, parents: true });
    },
    async once() {
      const res = await target.client.write(BIG_PATH, chunk, bytes, { overwrite: true, parents: true });
      if (res.node?.sizeBytes !== bytes) throw new Error(`upload stored ${res.node?.sizeBytes} bytes, not ${bytes}`);
      if (target.kind === 'ours' && res.node.sha256 !== sha256) throw new Error(`upload stored sha256 ${res.node.sha256}, expected ${sha256}`);
    },
  };
}
