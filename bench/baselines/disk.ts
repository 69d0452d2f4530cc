// Baseline: raw disk throughput in the server's data directory — write a file in 1 MiB
// chunks and fsync it (the fsync is inside the timing), then read it back. The read comes
// from the page cache, as the server's ReadFile of a just-uploaded file does.
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export interface DiskResult {
  bytes: number;
  writeMiBps: number;
  readMiBps: number;
}

const MiB = 1024 * 1024;

export async function diskBaseline(dir: string, bytes: number, chunkBytes: number): Promise<DiskResult> {
  const file = path.join(dir, 'disk-baseline.bin');
  const chunk = randomBytes(chunkBytes);
  try {
    let t0 = performance.now();
    const w = await open(file, 'wx');
    try {
      for (let at = 0; at < bytes; ) {
        const n = Math.min(chunkBytes, bytes - at);
        let done = 0;
        while (done < n) done += (await w.write(chunk, done, n - done, at + done)).bytesWritten;
        at += n;
      }
      await w.sync();
    } finally {
      await w.close();
    }
    const writeSeconds = (performance.now() - t0) / 1000;

    t0 = performance.now();
    const r = await open(file, 'r');
    let read = 0;
    try {
      const buf = Buffer.allocUnsafe(chunkBytes);
      for (let at = 0; at < bytes; ) {
        const { bytesRead } = await r.read(buf, 0, chunkBytes, at);
        if (bytesRead === 0) break;
        at += bytesRead;
        read += bytesRead;
      }
    } finally {
      await r.close();
    }
    const readSeconds = (performance.now() - t0) / 1000;
    if (read !== bytes) throw new Error(`disk baseline read ${read} of ${bytes} bytes`);
    return { bytes, writeMiBps: bytes / MiB / writeSeconds, readMiBps: bytes / MiB / readSeconds };
  } finally {
    await rm(file, { force: true });
  }
}
