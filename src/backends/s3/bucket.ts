// The S3 calls the backend makes, on one bucket: exact-key HEADs, ranged GETs, puts, server-side
// copies (multipart above 5 GiB), batched deletes and paged listings. Errors stay the SDK's here;
// the backend translates them (errors.ts).
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { awsCode, httpStatus, isMissing } from './errors.js';
import { copySource } from './keys.js';

export interface Head {
  sizeBytes: number;
  mtimeMs: number;
  metadata: Record<string, string>;
}

/** CopyObject's limit; larger objects are copied in parts. */
const MAX_SINGLE_COPY = 5 * 1024 ** 3;
const MIN_COPY_PART = 512 * 1024 ** 2;
const MAX_PARTS = 10_000;
const DELETE_BATCH = 1000;

export class Bucket {
  constructor(
    readonly client: S3Client,
    readonly name: string,
  ) {}

  async head(key: string): Promise<Head | null> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
      return { sizeBytes: Number(h.ContentLength ?? 0), mtimeMs: h.LastModified?.getTime() ?? 0, metadata: h.Metadata ?? {} };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  /** The bytes of `key` from `offset`; null when the offset is at or past the end (or the object is empty). */
  async get(key: string, offset: number, length: number | undefined): Promise<AsyncIterable<Uint8Array> | null> {
    const range = offset > 0 || length !== undefined ? `bytes=${offset}-${length !== undefined ? offset + length - 1 : ''}` : undefined;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: range }));
      return res.Body as AsyncIterable<Uint8Array>;
    } catch (err) {
      if (awsCode(err) === 'InvalidRange' || httpStatus(err) === 416) return null;
      throw err;
    }
  }

  async put(key: string, body: string | Uint8Array, metadata?: Record<string, string>): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.name, Key: key, Body: body, ContentLength: Buffer.byteLength(body), Metadata: metadata }));
  }

  /** Copies `from` to `to` (replacing it); `metadata` replaces the source's when given. */
  async copy(from: string, to: string, sizeBytes: number, metadata?: Record<string, string>): Promise<void> {
    const directive = metadata ? { MetadataDirective: 'REPLACE' as const, Metadata: metadata } : {};
    if (sizeBytes <= MAX_SINGLE_COPY) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.name, Key: to, CopySource: copySource(this.name, from), ...directive }));
      return;
    }
    // A multipart copy takes no metadata from its source: carry it over.
    const carried = metadata ?? (await this.head(from))?.metadata;
    const part = Math.max(MIN_COPY_PART, Math.ceil(sizeBytes / MAX_PARTS));
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.name, Key: to, Metadata: carried }));
    try {
      const parts = [];
      for (let start = 0, n = 1; start < sizeBytes; start += part, n++) {
        const end = Math.min(start + part, sizeBytes) - 1;
        const res = await this.client.send(
          new UploadPartCopyCommand({ Bucket: this.name, Key: to, UploadId, PartNumber: n, CopySource: copySource(this.name, from), CopySourceRange: `bytes=${start}-${end}` }),
        );
        parts.push({ PartNumber: n, ETag: res.CopyPartResult?.ETag });
      }
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.name, Key: to, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: to, UploadId })).catch(() => {});
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }));
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      const res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.name, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length) throw Object.assign(new Error(`could not delete ${failed.length} objects: ${failed[0]!.Code} ${failed[0]!.Message}`), { name: failed[0]!.Code });
    }
  }

  /** Every object below `prefix`, page by page (keys with their sizes). */
  async *list(prefix: string): AsyncGenerator<{ key: string; sizeBytes: number }> {
    let token: string | undefined;
    do {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token }));
      for (const o of res.Contents ?? []) yield { key: o.Key!, sizeBytes: Number(o.Size ?? 0) };
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  /** The names one level below `prefix`: objects and common prefixes (without the trailing '/'). */
  async children(prefix: string): Promise<{ objects: string[]; prefixes: string[] }> {
    const objects: string[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
      for (const o of res.Contents ?? []) if (o.Key !== prefix) objects.push(o.Key!.slice(prefix.length));
      for (const p of res.CommonPrefixes ?? []) prefixes.push(p.Prefix!.slice(prefix.length, -1));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return { objects, prefixes };
  }

  /**
   * Aborts the multipart uploads below `prefix` that were never completed. An S3 API without
   * ListMultipartUploads (s3rver) has none to list: nothing to do there.
   */
  async abortUploads(prefix: string): Promise<void> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.name, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      } catch (err) {
        if (awsCode(err) === 'NotImplemented') return;
        throw err;
      }
      for (const u of res.Uploads ?? []) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: u.Key, UploadId: u.UploadId })).catch((err) => {
          if (awsCode(err) !== 'NoSuchUpload') throw err;
        });
      }
      keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
      uploadIdMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
    } while (keyMarker);
  }

  /** Whether any object lies below `prefix` (other than `except`). */
  async anyBelow(prefix: string, except?: string): Promise<boolean> {
    const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, MaxKeys: 2 }));
    return (res.Contents ?? []).some((o) => o.Key !== except);
  }
}
