// Backend over an S3 bucket (and prefix): the layout is in s3/keys.ts. Uploads are staged as objects
// under .filestore/staging/<owner>/ (one PutObject below the part size, multipart above it, hashed on
// the way) and published by a server-side copy, which makes the new content visible at once and
// replaces an old object only when the new one is complete; the staged object is deleted after.
// A tree (a directory copied, moved or deleted) is many objects: copied one by one, then deleted.
// Intents are one object each under .filestore/intents/<owner>/ (a PUT is durable when it returns).
// Existence is asked with exact-key HEADs: "a" never collides with "a.txt" or "a/b".
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Backend, DiskStep, EntryStat, IntentListing, ReadOptions, StagedContent, StageOptions } from './backend.js';
import { failedPrecondition, invalidArgument, resourceExhausted, unavailable } from '../errors/domain-error.js';
import { parentOf, S3_LIMITS, type PathLimits } from '../paths/index.js';
import * as E from './errors.js';
import { Bucket } from './s3/bucket.js';
import { awsCode, isMissing, s3Error } from './s3/errors.js';
import { hashedBody } from './s3/hashed-body.js';
import { KeyLayout, s3Location } from './s3/keys.js';
import { rangeReadStream } from './s3/read-stream.js';

const DEFAULT_CHUNK = 256 * 1024;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Parts of a multipart upload: at least 8 MiB, grown so that the largest upload allowed stays under 10,000 parts. */
const MIN_PART = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Parts in flight per upload: memory per upload is about (this + 1) parts. */
const PARTS_IN_FLIGHT = 2;
/** Objects copied or deleted side by side in a tree operation. */
const TREE_CONCURRENCY = 16;
const SHA_META = 'sha256';

export interface S3BackendOptions {
  id: number;
  bucket: string;
  prefix?: string;
  region: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  instanceId: string;
  /** A client made by the caller (tests); otherwise one from the options and the SDK's default credentials chain. */
  client?: S3Client;
}

export function s3Client(o: Pick<S3BackendOptions, 'region' | 'endpoint' | 'forcePathStyle'>): S3Client {
  // The SDK is pinned to a release that supports Node 20 (package.json); its notice that later
  // releases will not would otherwise be printed by every process that opens an S3 backend.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    region: o.region,
    endpoint: o.endpoint,
    forcePathStyle: o.forcePathStyle,
    // Only what an operation requires: with the defaults, S3-compatible servers (s3rver) stored the
    // streaming checksum framing inside the object.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export class S3Backend implements Backend {
  readonly id: number;
  readonly kind = 's3' as const;
  readonly atomicPublish = false;
  readonly location: string;
  readonly pathLimits: PathLimits;
  private readonly bucket: Bucket;
  private readonly keys: KeyLayout;
  private readonly instanceId: string;
  /** Content of what this process staged, for the object's sha256 metadata when it is published. */
  private readonly stagedHashes = new Map<string, string>();
  private readonly openIntents = new Set<number>();
  private intentsClosed = false;

  constructor(opts: S3BackendOptions) {
    if (!SAFE_NAME.test(opts.instanceId)) {
      throw invalidArgument('BAD_INSTANCE_ID', `instance id "${opts.instanceId}" must be 1–128 letters, digits, ".", "_" or "-".`);
    }
    this.id = opts.id;
    this.keys = new KeyLayout(opts.prefix);
    this.bucket = new Bucket(opts.client ?? s3Client(opts), opts.bucket);
    this.location = s3Location(opts.bucket, this.keys);
    this.instanceId = opts.instanceId;
    this.pathLimits = { ...S3_LIMITS, maxPathBytes: S3_LIMITS.maxPathBytes - Buffer.byteLength(this.keys.base) - 1 };
  }

  async open(): Promise<void> {
    try {
      await this.bucket.client.send(new HeadBucketCommand({ Bucket: this.bucket.name }));
    } catch (err) {
      if (isMissing(err) || awsCode(err) === 'NoSuchBucket') {
        throw failedPrecondition('BACKEND_ROOT_MISSING', `backend ${this.id}: bucket "${this.bucket.name}" does not exist; create it or fix "bucket" in the backends file.`);
      }
      throw s3Error(err, this.subject(''), this.bucket.name);
    }
  }

  newStagingKey(): string {
    return `${this.instanceId}/${randomUUID()}`;
  }

  async stat(path: string): Promise<EntryStat | null> {
    return this.guard(path, () => this.statOf(path));
  }

  read(path: string, options: ReadOptions = {}): Readable {
    const { offset = 0, length, chunkSize = DEFAULT_CHUNK } = options;
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
      throw invalidArgument('BAD_RANGE', `offset and length must be non-negative integers (reading path "${path}").`);
    }
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw invalidArgument('BAD_CHUNK_SIZE', 'chunkSize must be a positive integer.');
    const open = (from: number, len: number | undefined) =>
      this.guard(path, async () => {
        const body = len === 0 ? null : await this.bucket.get(this.keys.file(path), from, len).catch((err) => (isMissing(err) ? undefined : Promise.reject(err)));
        if (body) return body;
        // Nothing to send: the object must still be a file (a missing key or a directory is an error).
        if (!(await this.bucket.head(this.keys.file(path)))) await this.refuseNonFile(path);
        return null;
      });
    return rangeReadStream({ open }, offset, length, chunkSize);
  }

  async stage(key: string, chunks: AsyncIterable<Uint8Array>, options: StageOptions = {}): Promise<StagedContent> {
    const object = this.stagedKey(key);
    const { maxBytes } = options;
    const tooLarge = () =>
      resourceExhausted('UPLOAD_TOO_LARGE', `the upload is larger than the limit of ${maxBytes} bytes; send a smaller file or raise the limit.`, {
        maxBytes: String(maxBytes),
      });
    if (await this.stagingExists(key)) throw E.pathExists(this.subject(key, true), 'staging key already in use; take a new one from newStagingKey()');
    const body = hashedBody(chunks, maxBytes, tooLarge);
    const partSize = Math.max(MIN_PART, Math.ceil((maxBytes ?? 0) / MAX_PARTS));
    try {
      await new Upload({ client: this.bucket.client, params: { Bucket: this.bucket.name, Key: object, Body: body.stream }, partSize, queueSize: PARTS_IN_FLIGHT }).done();
    } catch (err) {
      await this.bucket.delete(object).catch(() => undefined);
      throw s3Error(err, this.subject(key, true), this.bucket.name);
    }
    const written = body.result();
    this.stagedHashes.set(key, written.sha256);
    return { key, ...written };
  }

  async stageCopy(path: string, key: string): Promise<void> {
    const staged = this.stagedKey(key);
    if (await this.stagingExists(key)) throw E.pathExists(this.subject(key, true), 'staging key already in use; take a new one from newStagingKey()');
    await this.guard(path, async () => {
      const found = await this.statOf(path);
      if (!found) throw E.pathMissing(this.subject(path));
      try {
        if (found.kind === 'file') await this.bucket.copy(this.keys.file(path), staged, found.sizeBytes);
        else await this.copyTree(this.keys.dir(path), `${staged}/`);
      } catch (err) {
        await this.discard(key).catch(() => undefined);
        throw err;
      }
    });
  }

  async publish(key: string, path: string, _step: DiskStep = {}): Promise<void> {
    if (path === '') throw E.rootNotAllowed(this.subject(path), 'publish to');
    await this.guard(path, async () => {
      await this.requireParent(path);
      const target = await this.statOf(path);
      if (target?.kind === 'directory') throw E.pathExists(this.subject(path), 'a directory is there and publishing never replaces a directory');
      const staged = this.stagedKey(key);
      const file = await this.bucket.head(staged);
      if (file) {
        const sha = this.stagedHashes.get(key) ?? file.metadata[SHA_META];
        await this.bucket.copy(staged, this.keys.file(path), file.sizeBytes, sha ? { [SHA_META]: sha } : undefined);
        await this.bucket.delete(staged);
        this.stagedHashes.delete(key);
        return;
      }
      if (!(await this.bucket.anyBelow(`${staged}/`))) throw E.pathMissing(this.subject(key, true));
      if (target) throw E.pathExists(this.subject(path), 'a file is there and a directory never replaces a file');
      await this.moveTree(`${staged}/`, this.keys.dir(path));
    });
  }

  async unpublish(path: string, key: string): Promise<void> {
    if (path === '') throw E.rootNotAllowed(this.subject(path), 'unpublish');
    const staged = this.stagedKey(key);
    await this.guard(path, async () => {
      const found = await this.statOf(path);
      if (!found) throw E.pathMissing(this.subject(path));
      if (found.kind === 'file') {
        await this.bucket.copy(this.keys.file(path), staged, found.sizeBytes);
        await this.bucket.delete(this.keys.file(path));
      } else await this.moveTree(this.keys.dir(path), `${staged}/`);
    });
  }

  async stagingExists(key: string): Promise<boolean> {
    const staged = this.stagedKey(key);
    return this.guard(key, async () => (await this.bucket.head(staged)) !== null || (await this.bucket.anyBelow(`${staged}/`)), true);
  }

  async discard(key: string): Promise<void> {
    const staged = this.stagedKey(key);
    this.stagedHashes.delete(key);
    await this.guard(key, async () => {
      await this.bucket.delete(staged);
      await this.deleteAll(`${staged}/`);
    }, true);
  }

  async stagingOwners(): Promise<string[]> {
    return (await this.bucket.children(this.keys.stagingRoot)).prefixes.filter((n) => SAFE_NAME.test(n));
  }

  async listStaging(owner: string = this.instanceId): Promise<string[]> {
    if (!SAFE_NAME.test(owner)) return [];
    const { objects, prefixes } = await this.bucket.children(`${this.keys.stagingRoot}${owner}/`);
    return [...new Set([...objects, ...prefixes])].filter((n) => SAFE_NAME.test(n)).map((n) => `${owner}/${n}`);
  }

  async removeStagingArea(_owner: string): Promise<void> {
    // An S3 "area" is a key prefix: it is gone with its last object.
  }

  async writeIntent(id: number, body: string): Promise<void> {
    if (this.intentsClosed) throw unavailable('SERVER_SHUTTING_DOWN', 'the server is stopping; retry on another instance');
    this.openIntents.add(id);
    try {
      await this.bucket.put(this.keys.intent(this.instanceId, id), body);
    } catch (err) {
      this.openIntents.delete(id);
      throw s3Error(err, this.subject(`${this.instanceId}/${id}`, true), this.bucket.name);
    }
  }

  async intentDone(id: number): Promise<void> {
    if (!this.openIntents.delete(id)) return;
    await this.bucket.delete(this.keys.intent(this.instanceId, id)).catch(() => {
      // Left behind: a later sweep reads it, finds its entry committed and removes it.
    });
  }

  async closeIntents(): Promise<boolean> {
    this.intentsClosed = true;
    return this.openIntents.size === 0;
  }

  async intentOwners(): Promise<string[]> {
    return (await this.bucket.children(this.keys.intentsRoot)).prefixes.filter((n) => SAFE_NAME.test(n));
  }

  async listIntents(owner: string): Promise<IntentListing> {
    if (!SAFE_NAME.test(owner)) return { intents: [], segments: [], unreadable: 0 };
    const area = `${this.keys.intentsRoot}${owner}/`;
    const intents: { id: number; body: string }[] = [];
    const segments: string[] = [];
    let unreadable = 0;
    for await (const { key } of this.bucket.list(area)) {
      const id = Number(key.slice(area.length));
      if (!Number.isSafeInteger(id) || id <= 0) {
        unreadable++;
        continue;
      }
      if (owner === this.instanceId && this.openIntents.has(id)) continue; // a command of this process is running it
      const body = await this.bucket.get(key, 0, undefined).then((b) => (b ? text(b) : ''));
      segments.push(key);
      intents.push({ id, body });
    }
    return { intents: intents.sort((a, b) => a.id - b.id), segments, unreadable };
  }

  async removeIntents(_owner: string, listing: IntentListing): Promise<void> {
    await this.bucket.deleteMany(listing.segments.filter((k) => k.startsWith(this.keys.intentsRoot)));
  }

  async mkdir(path: string, _step: DiskStep = {}): Promise<void> {
    if (path === '') throw E.pathExists(this.subject(path), 'the root always exists');
    await this.guard(path, async () => {
      await this.requireParent(path);
      if (await this.statOf(path)) throw E.pathExists(this.subject(path));
      await this.bucket.put(this.keys.dir(path), '');
    });
  }

  async syncParents(_paths: string[]): Promise<void> {
    // Nothing to sync: an S3 PUT is durable when it returns.
  }

  async rename(from: string, to: string): Promise<void> {
    if (from === '') throw E.rootNotAllowed(this.subject(from), 'rename');
    if (to === '') throw E.rootNotAllowed(this.subject(to), 'rename onto');
    await this.guard(to, async () => {
      const source = await this.statOf(from);
      if (!source) throw E.pathMissing(this.subject(from));
      if (from === to) return;
      if (to.startsWith(`${from}/`)) throw failedPrecondition('BACKEND_MOVE_INTO_ITSELF', `cannot move "${from}" into its own subtree "${to}".`);
      await this.requireParent(to);
      const target = await this.statOf(to);
      if (target?.kind === 'directory') throw E.pathExists(this.subject(to), 'a directory is there and rename never replaces a directory');
      if (source.kind === 'file') {
        const head = await this.bucket.head(this.keys.file(from));
        await this.bucket.copy(this.keys.file(from), this.keys.file(to), source.sizeBytes, head?.metadata);
        await this.bucket.delete(this.keys.file(from));
        return;
      }
      if (target) throw E.pathExists(this.subject(to), 'a file is there and a directory never replaces a file');
      await this.moveTree(this.keys.dir(from), this.keys.dir(to));
    });
  }

  async remove(path: string): Promise<void> {
    if (path === '') throw E.rootNotAllowed(this.subject(path), 'remove');
    await this.guard(path, async () => {
      if (await this.bucket.head(this.keys.file(path))) {
        await this.bucket.delete(this.keys.file(path));
        return;
      }
      const marker = this.keys.dir(path);
      if (await this.bucket.anyBelow(marker, marker)) throw E.notEmpty(this.subject(path));
      await this.bucket.delete(marker);
    });
  }

  // --- helpers ---

  private async statOf(path: string): Promise<EntryStat | null> {
    if (path === '') return { kind: 'directory', sizeBytes: 0, mtimeMs: 0 };
    const [file, marker] = await Promise.all([this.bucket.head(this.keys.file(path)), this.bucket.head(this.keys.dir(path))]);
    if (file) return { kind: 'file', sizeBytes: file.sizeBytes, mtimeMs: file.mtimeMs };
    if (marker) return { kind: 'directory', sizeBytes: 0, mtimeMs: marker.mtimeMs };
    return (await this.bucket.anyBelow(this.keys.dir(path))) ? { kind: 'directory', sizeBytes: 0, mtimeMs: 0 } : null;
  }

  /** The parent of `path` must be a directory: a missing one or a file there is refused. */
  private async requireParent(path: string): Promise<void> {
    const parent = parentOf(path);
    if (parent === '') return;
    const found = await this.statOf(parent);
    if (!found) throw E.parentMissing(this.subject(path));
    if (found.kind !== 'directory') throw E.kindMismatch(this.subject(path), `its parent "${parent}" is a file`);
  }

  /** Why a path with no file object cannot be read: it is a directory, or nothing. */
  private async refuseNonFile(path: string): Promise<never> {
    if ((await this.statOf(path))?.kind === 'directory') throw E.kindMismatch(this.subject(path), 'it is a directory, not a file');
    throw E.pathMissing(this.subject(path));
  }

  /** Copies every object below `from` (a directory's prefix, its marker included) to below `to`; writes `to`'s marker. */
  private async copyTree(from: string, to: string): Promise<void> {
    const reserved = from === this.keys.base ? `${this.keys.base}.filestore/` : null;
    const pending: Promise<void>[] = [];
    for await (const o of this.bucket.list(from)) {
      if (reserved && o.key.startsWith(reserved)) continue;
      pending.push(this.bucket.copy(o.key, `${to}${o.key.slice(from.length)}`, o.sizeBytes));
      if (pending.length >= TREE_CONCURRENCY) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    if (from !== '') await this.bucket.put(to, '');
  }

  private async moveTree(from: string, to: string): Promise<void> {
    await this.copyTree(from, to);
    await this.deleteAll(from);
  }

  private async deleteAll(prefix: string): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.bucket.list(prefix)) keys.push(o.key);
    await this.bucket.deleteMany(keys);
  }

  private stagedKey(key: string): string {
    const [owner, name, ...rest] = key.split('/');
    if (rest.length || !SAFE_NAME.test(owner ?? '') || !SAFE_NAME.test(name ?? '')) {
      throw invalidArgument('BAD_STAGING_KEY', `staging key "${key}" is malformed; use newStagingKey().`);
    }
    return this.keys.staged(key);
  }

  private subject(path: string, staging = false): E.Subject {
    return { backendId: this.id, path, staging };
  }

  /** Runs an S3 operation, its failures translated for `path` (or staging key). */
  private async guard<T>(path: string, fn: () => Promise<T>, staging = false): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw s3Error(err, this.subject(path, staging), this.bucket.name);
    }
  }
}

async function text(body: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const p of body) parts.push(Buffer.from(p));
  return Buffer.concat(parts).toString('utf8');
}
