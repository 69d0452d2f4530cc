// The upload's body as the uploader reads it: the client's chunks, hashed and counted on the way,
// refused once more than `maxBytes` arrive. The uploader pulls, so the client is read only as fast as
// S3 takes it.
import { createHash } from 'node:crypto';

export interface HashedBody {
  chunks: AsyncIterable<Uint8Array>;
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
  async function* pass(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        if (maxBytes !== undefined && size > maxBytes) throw tooLarge();
        hash.update(chunk);
        yield chunk;
      }
    } catch (err) {
      failed = err;
      throw err;
    }
    digest = hash.digest('hex');
  }
  return {
    chunks: pass(),
    failure: () => failed,
    result: () => {
      if (digest === null) throw new Error('the upload body was not read to its end');
      return { sizeBytes: size, sha256: digest };
    },
  };
}
