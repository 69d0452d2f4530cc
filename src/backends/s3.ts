// Backend over an S3 bucket (and prefix): the layout is in s3/keys.ts. Uploads are staged as objects
// under .filestore/staging/<owner>/ (one PutObject below the part size, multipart above it, hashed on
// the way) and published by a server-side copy, which makes the new content visible at once and
// replaces an old object only when the new one is complete; the staged object is deleted after.
// A tree (a directory copied, moved or deleted) is many objects: copied one by one, then deleted.
// Intents are one object each under .filestore/intents/<owner>/ (a PUT is durable when it returns).
// Existence is asked with exact-key HEADs: "a" never collides with "a.txt" or "a/b".
import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { noContent, type Backend, type DiskStep, type EntryStat, type IntentListing, type ReadOptions, type StagedContent, type StagedEntry, type StageOptions } from './backend.js';
import { failedPrecondition, invalidArgument, resourceExhausted, unavailable } from '../errors/domain-error.js';
import { parentOf, S3_LIMITS, type PathLimits } from '../paths/index.js';
import * as E from './errors.js';
import { Bucket } from './s3/bucket.js';
import { awsCode, isMissing, s3Error } from './s3/errors.js';
import { hashedBody } from './s3/hashed-body.js';
import { putStreamed } from './s3/multipart.js';
import { KeyLayout, s3Location } from './s3/keys.js';
import { rangeReadStream } from './s3/read-stream.js';

const DEFAULT_CHUNK = 256 * 1024;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Parts of a multipart upload: at least 8 MiB, grown so that the largest upload allowed stays under 10,000 parts. */
const MIN_PART = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
/**
 * Parts in flight per upload (memory per upload is this many parts). One: against s3rver two gained
 * nothing, and cost the server 12 MiB more at its peak (test/e2e/memory-s3.test.ts, 1 GiB).
 */
const PARTS_IN_FLIGHT = 1;
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
  /** Fault injection (src/commands/crash-points.ts): called at named points inside a tree's copy and delete. */
  crashPoint?: (name: string) => void;
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
  readonly location: string;
  readonly pathLimits: PathLimits;
  private readonly bucket: Bucket;
  private readonly keys: KeyLayout;
  private readonly instanceId: string;
  /** Content of what this process staged, for the object's sha256 metadata when it is published. */
  private readonly stagedHashes = new Map<string, string>();
  private readonly openIntents = new Set<number>();
  private intentsClosed = false;
  private readonly crashPoint: (name: string) => void;

  constructor(opts: S3BackendOptions) {
    if (!SAFE_NAME.test(opts.instanceId)) {
      throw invalidArgument('BAD_INSTANCE_ID', `instance id "${opts.instanceId}" must be 1–128 letters, digits, ".", "_" or "-".`);
    }
    this.id = opts.id;
    this.keys = new KeyLayout(opts.prefix);
    this.bucket = new Bucket(opts.client ?? s3Client(opts), opts.bucket);
    this.location = s3Location(opts.bucket, this.keys);
    this.instanceId = opts.instanceId;
    this.crashPoint = opts.crashPoint ?? (() => {});
    // A tracked path must fit in a key also below a staged tree: <base>.filestore/staging/<owner>/<uuid>/<path>.
    const staged = Buffer.byteLength(this.keys.staged(`${opts.instanceId}/${randomUUID()}/`));
    this.pathLimits = { ...S3_LIMITS, maxPathBytes: S3_LIMITS.maxPathBytes - staged };
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
    await this.requireFreshStagingKey(key);
    let written;
    try {
      written = await this.upload(object, chunks, maxBytes, tooLarge);
    } catch (err) {
      throw s3Error(err, this.subject(key, true), this.bucket.name);
    }
    this.stagedHashes.set(key, written.sha256);
    return { key, ...written };
  }

  async stageCopy(path: string, key: string): Promise<void> {
    const staged = this.stagedKey(key);
    await this.requireFreshStagingKey(key);
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

  async stageTree(key: string, entries: AsyncIterable<StagedEntry>): Promise<void> {
    const staged = this.stagedKey(key);
    await this.requireFreshStagingKey(key);
    try {
      await this.guard(key, async () => {
        for await (const e of entries) {
          if (e.path === '') continue; // the top's marker comes last: it says the tree is whole
          if (e.kind === 'directory') await this.bucket.put(`${staged}/${e.path}/`, '');
          else await this.upload(`${staged}/${e.path}`, e.content ?? noContent());
        }
        await this.bucket.put(`${staged}/`, '');
      }, true);
    } catch (err) {
      await this.discard(key).catch(() => undefined);
      throw err;
    }
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
        this.stagedHashes.delete(key);
        // Published: a staged object left by a failed delete is removed by the staging sweep.
        await this.bucket.delete(staged).catch(() => undefined);
        return;
      }
      if (!(await this.bucket.anyBelow(`${staged}/`))) throw E.pathMissing(this.subject(key, true));
      if (target) throw E.pathExists(this.subject(path), 'a file is there and a directory never replaces a file');
      await this.moveTree(`${staged}/`, this.keys.dir(path), path);
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
        await this.interruptible(path, () => this.bucket.delete(this.keys.file(path)));
      } else await this.moveTree(this.keys.dir(path), `${staged}/`, path);
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

  async removeStagingArea(owner: string): Promise<void> {
    // An S3 "area" is a key prefix, gone with its last object; what can outlive it is the parts of a
    // multipart upload its owner never completed nor aborted (it died), which cost storage unseen.
    if (!SAFE_NAME.test(owner)) return;
    await this.bucket.abortUploads(`${this.keys.stagingRoot}${owner}/`);
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
    if (!this.openIntents.has(id)) return;
    // Deleted while still open, so that this process's own sweep never reads an intent being deleted.
    await this.bucket.delete(this.keys.intent(this.instanceId, id)).catch(() => {
      // Left behind: a later sweep reads it, finds its entry committed and removes it.
    });
    this.openIntents.delete(id);
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
      const body = await this.bucket.get(key, 0, undefined).then(
        (b) => (b ? text(b) : ''),
        (err) => (isMissing(err) ? null : Promise.reject(err)), // done meanwhile
      );
      if (body === null) continue;
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
        await this.interruptible(to, () => this.bucket.delete(this.keys.file(from)));
        return;
      }
      if (target) throw E.pathExists(this.subject(to), 'a file is there and a directory never replaces a file');
      await this.moveTree(this.keys.dir(from), this.keys.dir(to), to);
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

  async settlePublish(key: string, path: string): Promise<void> {
    const staged = this.stagedKey(key);
    await this.guard(path, async () => {
      if (await this.bucket.head(staged)) {
        // A file: the copy is one call, so the object at the path is the staged one or what was there.
        if (await this.sameContent(staged, this.keys.file(path))) await this.bucket.delete(staged);
        return;
      }
      if (await this.bucket.anyBelow(`${staged}/`)) await this.settleTree(`${staged}/`, this.keys.dir(path));
    });
  }

  async settleRename(from: string, to: string): Promise<void> {
    if (from === '' || to === '' || from === to) return;
    await this.guard(to, async () => {
      if (await this.bucket.head(this.keys.file(from))) {
        if (await this.sameContent(this.keys.file(from), this.keys.file(to))) await this.bucket.delete(this.keys.file(from));
        return;
      }
      await this.settleTree(this.keys.dir(from), this.keys.dir(to));
    });
  }

  async settleUnpublish(path: string, key: string): Promise<void> {
    if (path === '') return;
    const staged = this.stagedKey(key);
    await this.guard(path, async () => {
      if (await this.bucket.head(staged)) {
        // The copy into staging is one call: once it is there, the delete is what was left to do.
        await this.bucket.delete(this.keys.file(path));
        return;
      }
      await this.settleTree(this.keys.dir(path), `${staged}/`);
    });
  }

  // --- helpers ---

  /**
   * A tree's move from `from` to `to` (prefixes), cut off: its marker at `to`, written after every
   * object was copied, says the copy is whole, so the deletes are finished; without it, the partial
   * copy is removed (`to` held nothing before: a move or publish never replaces a directory).
   */
  private async settleTree(from: string, to: string): Promise<void> {
    if (await this.bucket.head(to)) await this.deleteAll(from);
    else if (await this.bucket.anyBelow(to)) await this.deleteAll(to);
  }

  /**
   * Streams `chunks` into object `key` (one PutObject below the part size, multipart above), hashed on
   * the way; on failure nothing is left there. Throws the source's own failure rather than the SDK's.
   */
  private async upload(key: string, chunks: AsyncIterable<Uint8Array>, maxBytes?: number, tooLarge: () => Error = () => new Error('too large')) {
    const body = hashedBody(chunks, maxBytes, tooLarge);
    const partSize = Math.max(MIN_PART, Math.ceil((maxBytes ?? 0) / MAX_PARTS));
    try {
      await putStreamed(this.bucket.client, this.bucket.name, key, body.chunks, { partSize, inFlight: PARTS_IN_FLIGHT });
    } catch (err) {
      await this.bucket.delete(key).catch(() => undefined);
      throw body.failure() ?? err;
    }
    return body.result();
  }

  /** Both objects exist with the same bytes (compared by size, then by their sha256). */
  private async sameContent(a: string, b: string): Promise<boolean> {
    const [x, y] = await Promise.all([this.bucket.head(a), this.bucket.head(b)]);
    if (!x || !y || x.sizeBytes !== y.sizeBytes) return false;
    const [hx, hy] = await Promise.all([this.objectHash(a), this.objectHash(b)]);
    return hx === hy;
  }

  private async objectHash(key: string): Promise<string> {
    const hash = createHash('sha256');
    const body = await this.bucket.get(key, 0, undefined);
    if (body) for await (const part of body) hash.update(part);
    return hash.digest('hex');
  }

  /**
   * A call after the first change a multi-call step made: if it fails, the step is half done, which
   * only recovery can settle (settle* above), so the command's runner must resolve it as recovery
   * would, not take it for refused.
   */
  private async interruptible<T>(path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unavailable(
        'BACKEND_STEP_INTERRUPTED',
        `backend ${this.id} (bucket "${this.bucket.name}") failed in the middle of changing path "${path}": ${(err as Error).message}; the service completes or undoes the change, then retry.`,
        { backendId: String(this.id), path },
      );
    }
  }

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

  /**
   * Copies every object below `from` (a directory's prefix) to below `to`, then writes `to`'s marker:
   * the marker is last, so that it says the copy is whole (settleTree).
   */
  private async copyTree(from: string, to: string): Promise<void> {
    const reserved = from === this.keys.base ? `${this.keys.base}.filestore/` : null;
    const pending: Promise<void>[] = [];
    for await (const o of this.bucket.list(from)) {
      if (o.key === from || (reserved && o.key.startsWith(reserved))) continue;
      pending.push(this.bucket.copy(o.key, `${to}${o.key.slice(from.length)}`, o.sizeBytes));
      if (pending.length >= TREE_CONCURRENCY) {
        await Promise.all(pending.splice(0));
        this.crashPoint('s3:tree-mid-copy');
      }
    }
    await Promise.all(pending);
    await this.bucket.put(to, '');
  }

  /** A tree's move: a whole copy, then the deletes (`path`: what a half-done move is reported on). */
  private async moveTree(from: string, to: string, path: string): Promise<void> {
    try {
      await this.copyTree(from, to);
    } catch (err) {
      // Taken back: then the step did not begin, as far as anyone can see.
      const undone = await this.deleteAll(to).then(() => true, () => false);
      if (undone) throw err;
      await this.interruptible(path, () => Promise.reject(err));
    }
    await this.interruptible(path, () => this.deleteAll(from));
  }

  private async deleteAll(prefix: string): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.bucket.list(prefix)) keys.push(o.key);
    // The marker last: a directory whose objects are partly gone still reads as one until then.
    keys.sort((a, b) => (a === prefix ? 1 : b === prefix ? -1 : 0));
    const half = Math.ceil(keys.length / 2);
    await this.bucket.deleteMany(keys.slice(0, half));
    this.crashPoint('s3:tree-mid-delete');
    await this.bucket.deleteMany(keys.slice(half));
  }

  /** Like the local backend's O_EXCL: a staging key must not be in use yet. */
  private async requireFreshStagingKey(key: string): Promise<void> {
    if (await this.stagingExists(key)) throw E.pathExists(this.subject(key, true), 'staging key already in use; take a new one from newStagingKey()');
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
