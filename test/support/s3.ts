// A real S3 API for the tests: s3rver, in this process, on a spare loopback port, over a fresh
// directory. Clients use the same settings the service does (src/backends/s3.ts) with s3rver's
// fixed credentials. Listings past one page need --openssl-legacy-provider (s3rver's continuation
// tokens use DES): the ava configuration passes it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';
// @ts-expect-error s3rver ships no types
import FilesystemStore from 's3rver/lib/stores/filesystem.js';
import { s3Client } from '../../src/backends/s3.js';

// s3rver's quirk, not S3's: a DELETE removes the key's directories once they are empty, and a PUT
// below one of them at that moment opens its file in a directory just removed; its write stream has
// no error listener, so the ENOENT kills the process that runs s3rver. S3 has no directories: the
// stand-in keeps them (only the object's own files are removed).
FilesystemStore.prototype.deleteObject = async function deleteObject(this: { getResourcePath(b: string, k: string, r: string): string }, bucket: string, key: string) {
  await Promise.all(
    ['object', 'object.md5', 'metadata.json'].map((r) =>
      rm(this.getResourcePath(bucket, key, r), { force: true }),
    ),
  );
};

export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
Object.assign(process.env, S3_CREDENTIALS);

export interface S3Fixture {
  endpoint: string;
  client: S3Client;
  /** A new, empty bucket. */
  bucket(): Promise<string>;
  stop(): Promise<void>;
}

export async function startS3(): Promise<S3Fixture> {
  const directory = await mkdtemp(path.join(tmpdir(), 'filestore-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3Client({ region: 'us-east-1', endpoint, forcePathStyle: true });
  return {
    endpoint,
    client,
    async bucket() {
      const name = `test-${randomBytes(6).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Every key in `bucket` below `prefix`, sorted (the plain SDK, paging through). */
export async function listKeys(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(res.Contents ?? []).map((o) => o.Key!));
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/**
 * What a bucket stores below `prefix` (ending in "/"), as the API's trees are compared with it:
 * "path/" for a directory marker, "path size sha256" for an object (its bytes read back); and the
 * keys of the service's own area (.filestore/), apart.
 */
export async function storedLines(client: S3Client, bucket: string, prefix: string): Promise<{ stored: string[]; own: string[] }> {
  const stored: string[] = [];
  const own: string[] = [];
  for (const key of await listKeys(client, bucket, prefix)) {
    const rel = key.slice(prefix.length);
    if (rel.startsWith('.filestore/')) own.push(rel);
    else if (rel.endsWith('/')) stored.push(rel);
    else {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const bytes = Buffer.from(await got.Body!.transformToByteArray());
      stored.push(`${rel} ${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`);
    }
  }
  return { stored: stored.sort(), own };
}
