// Streams bytes into one object: a single PutObject when they fit in one part, a multipart upload
// otherwise, with at most `inFlight` parts uploading (with more than one, the next part fills while
// the others upload). Parts are filled in place in reused buffers (no copies of whole parts, no
// garbage per part), so memory is inFlight × partSize whatever the object's size, and the source is
// read only as fast as S3 takes the parts. Nothing is visible before the last call succeeds; on
// failure the upload is aborted.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

export interface MultipartOptions {
  partSize: number;
  inFlight: number;
}

export async function putStreamed(client: S3Client, bucket: string, key: string, chunks: AsyncIterable<Uint8Array>, o: MultipartOptions): Promise<void> {
  const free: Buffer[] = []; // at most inFlight buffers are ever made
  const take = () => free.pop() ?? Buffer.allocUnsafe(o.partSize);
  let uploadId: string | undefined;
  const parts: { PartNumber: number; ETag?: string }[] = [];
  const pending = new Set<Promise<void>>();
  let failure: unknown;
  const send = (buf: Buffer, length: number, partNumber: number) => {
    const p = client
      .send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: buf.subarray(0, length), ContentLength: length }))
      .then((res) => {
        parts[partNumber - 1] = { PartNumber: partNumber, ETag: res.ETag };
        free.push(buf);
      })
      .catch((err) => {
        failure ??= err;
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  let current = take();
  let filled = 0;
  let partNumber = 0;
  try {
    for await (const chunk of chunks) {
      for (let at = 0; at < chunk.byteLength; ) {
        const n = Math.min(chunk.byteLength - at, o.partSize - filled);
        current.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled < o.partSize) continue;
        uploadId ??= (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId;
        send(current, filled, ++partNumber);
        while (pending.size >= o.inFlight) await Promise.race(pending);
        if (failure) throw failure;
        current = take();
        filled = 0;
      }
    }
    if (!uploadId) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: current.subarray(0, filled), ContentLength: filled }));
      return;
    }
    if (filled > 0) send(current, filled, ++partNumber);
    await Promise.all(pending);
    if (failure) throw failure;
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
  } catch (err) {
    await Promise.allSettled(pending);
    if (uploadId) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
    throw err;
  }
}
