// A ranged GET as a stream of chunks of at most `chunkSize` bytes (each a fresh buffer, as the local
// backend's), read from the response only as fast as the consumer takes them: one chunk buffered.
import { Readable } from 'node:stream';

export interface RangeSource {
  /** The object's bytes from `offset` (`length` of them, or to the end); null when the offset is past the end. */
  open(offset: number, length: number | undefined): Promise<AsyncIterable<Uint8Array> | null>;
}

export function rangeReadStream(source: RangeSource, offset: number, length: number | undefined, chunkSize: number): Readable {
  return Readable.from(rechunked(source, offset, length, chunkSize), { objectMode: true, highWaterMark: 1 });
}

async function* rechunked(source: RangeSource, offset: number, length: number | undefined, chunkSize: number): AsyncGenerator<Buffer> {
  const body = await source.open(offset, length);
  if (!body) return;
  let chunk = Buffer.allocUnsafe(chunkSize);
  let filled = 0;
  let remaining = length ?? Number.POSITIVE_INFINITY;
  for await (const part of body) {
    let at = 0;
    while (at < part.byteLength && remaining > 0) {
      const n = Math.min(part.byteLength - at, chunkSize - filled, remaining);
      chunk.set(part.subarray(at, at + n), filled);
      filled += n;
      at += n;
      remaining -= n;
      if (filled === chunkSize) {
        yield chunk;
        chunk = Buffer.allocUnsafe(chunkSize);
        filled = 0;
      }
    }
    if (remaining <= 0) break;
  }
  if (filled > 0) yield chunk.subarray(0, filled);
}
