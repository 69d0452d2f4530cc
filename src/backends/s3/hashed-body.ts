// The upload's body as the SDK reads it: the client's chunks, hashed and counted on the way, refused
// once more than `maxBytes` arrive. The SDK pulls, so the client is read only as fast as S3 takes it.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export interface HashedBody {
  stream: Readable;
  /** Known once the stream has ended. */
  result(): { sizeBytes: number; sha256: string };
  /** What the source (or the size limit) failed with, if it did: the cause, whatever the SDK then reports. */
  failure(): unknown;
}

export function hashedBody(chunks: AsyncIterable<Uint8Array>, maxBytes: number | undefined, tooLarge: () => Error): HashedBody {
  const hash = createHash('sha256');
  let size = 0;
  let digest: string | null = null;
  let failed: unknown;
  async function* pass(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        if (maxBytes !== undefined && size > maxBytes) throw tooLarge();
        hash.update(chunk);
        yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
    } catch (err) {
      failed = err;
      throw err;
    }
    digest = hash.digest('hex');
  }
  return {
    stream: Readable.from(pass(), { objectMode: false, highWaterMark: 64 * 1024 }),
    failure: () => failed,
    result: () => {
      if (digest === null) throw new Error('the upload body was not read to its end');
      return { sizeBytes: size, sha256: digest };
    },
  };
}
