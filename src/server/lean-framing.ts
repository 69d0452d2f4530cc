// ReadFile's chunk messages framed directly: the field's tag, the length as a varint, the bytes,
// copied once. The generated serializer copies each chunk three times (into its writer, out of it, and
// Buffer.from); grpc-js copies once more to frame it. Other messages use the generated encoder.
import { FileStoreServiceService, ReadFileResponse } from '../../gen/filestore/v1/filestore_service.js';

const CHUNK_TAG = (2 << 3) | 2; // field 2 (chunk), length-delimited

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

export function serializeReadFileResponse(value: ReadFileResponse): Buffer {
  const chunk = value.chunk;
  if (chunk === undefined || value.node !== undefined) return Buffer.from(ReadFileResponse.encode(value).finish());
  const out = Buffer.allocUnsafe(1 + varintLength(chunk.length) + chunk.length);
  out[0] = CHUNK_TAG;
  let pos = 1;
  for (let n = chunk.length; ; n = Math.floor(n / 0x80)) {
    if (n < 0x80) {
      out[pos++] = n;
      break;
    }
    out[pos++] = (n & 0x7f) | 0x80;
  }
  out.set(chunk, pos);
  return out;
}

/** FileStoreService as served: the generated definition, with ReadFile's lean framing. */
export const servedFileStoreService = {
  ...FileStoreServiceService,
  readFile: { ...FileStoreServiceService.readFile, responseSerialize: serializeReadFileResponse },
};
