// Writes an upload to an open file while hashing it, with bounded memory.
//
// One writev is in flight at a time; chunks that arrive meanwhile are collected (up to
// BATCH_BYTES / BATCH_CHUNKS, then we wait for the disk) and written together by the
// next writev, so hashing and disk I/O overlap. Measured for 64 MiB in 64 KiB chunks on
// the dev VM: ~800 MiB/s against ~550 for one awaited write per chunk and ~680 for
// fs.createWriteStream with drain (including the final fsync).
//
// Chunks are written without copying, so the producer must not reuse a chunk's memory
// after yielding it (true for Node streams and grpc-js messages).
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

const BATCH_BYTES = 1 << 20;
const BATCH_CHUNKS = 512;

export interface Written {
  sizeBytes: number;
  sha256: string;
}

async function writevAll(fh: FileHandle, bufs: Uint8Array[], position: number, total: number): Promise<void> {
  const { bytesWritten } = await fh.writev(bufs, position);
  if (bytesWritten === total) return;
  // Short write (rare, e.g. a nearly full disk): write the rest piece by piece, so a
  // real error such as ENOSPC surfaces.
  let skip = bytesWritten;
  let at = position + bytesWritten;
  for (const buf of bufs) {
    if (skip >= buf.byteLength) {
      skip -= buf.byteLength;
      continue;
    }
    let offset = skip;
    skip = 0;
    while (offset < buf.byteLength) {
      const r = await fh.write(buf, offset, buf.byteLength - offset, at);
      offset += r.bytesWritten;
      at += r.bytesWritten;
    }
  }
}

/** Streams `chunks` into `fh` from position 0; throws `tooLarge()` once more than `maxBytes` arrive. */
export async function writeHashed(
  fh: FileHandle,
  chunks: AsyncIterable<Uint8Array>,
  maxBytes: number | undefined,
  tooLarge: () => Error,
): Promise<Written> {
  const hash = createHash('sha256');
  let received = 0;
  let written = 0;
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let inFlight: Promise<void> | null = null;
  let failure = null as { error: unknown } | null; // set from the write callbacks

  const kick = (): void => {
    if (batchBytes === 0) return;
    const bufs = batch;
    const bytes = batchBytes;
    const at = written;
    batch = [];
    batchBytes = 0;
    written += bytes;
    const p: Promise<void> = writevAll(fh, bufs, at, bytes).then(
      () => {
        if (inFlight !== p) return;
        inFlight = null;
        // Chunks that came meanwhile go now, not with the next chunk: an upload that pauses (a slow
        // client) has all it sent on disk.
        kick();
      },
      (error: unknown) => {
        failure ??= { error };
        if (inFlight === p) inFlight = null;
      },
    );
    inFlight = p;
  };
  const settle = async (): Promise<void> => {
    while (inFlight) await inFlight; // a finished write may have started the next
    if (failure) throw failure.error;
  };

  for await (const chunk of chunks) {
    if (failure) throw failure.error;
    if (chunk.byteLength === 0) continue;
    received += chunk.byteLength;
    if (maxBytes !== undefined && received > maxBytes) throw tooLarge();
    hash.update(chunk);
    batch.push(chunk);
    batchBytes += chunk.byteLength;
    if (!inFlight) kick();
    else if (batchBytes >= BATCH_BYTES || batch.length >= BATCH_CHUNKS) {
      await settle();
      kick();
    }
  }
  await settle();
  kick();
  await settle();
  return { sizeBytes: received, sha256: hash.digest('hex') };
}
