// Backend over a local directory. Uploads and copies are staged under
// <root>/.filestore/staging/<owner>/<name>, where a staging key is "<owner>/<name>" and the owner
// is the instance id of the process that made it (same file system, so publishing is one rename;
// any process can resolve a dead owner's keys). Every mutation fsyncs the directories it changed.
// Paths never leave the root and symlinks are never followed: see local/containment.ts.
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, realpath, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { noContent, type Backend, type DiskStep, type EntryStat, type IntentListing, type ReadOptions, type StagedContent, type StagedEntry, type StageOptions } from './backend.js';
import { failedPrecondition, invalidArgument, resourceExhausted, unavailable } from '../errors/domain-error.js';
import { Jail, lstatOrNull, RESERVED_DIR, type Resolved } from './local/containment.js';
import { sharedRealpath } from './local/shared-realpath.js';
import { copyFileDurable, copyTree } from './local/copy-tree.js';
import * as E from './local/errors.js';
import { syncDirectory } from './local/fsync.js';
import { IntentLog, readIntents, removeIntents } from './local/intent-log.js';
import { RangeReadStream } from './local/read-stream.js';
import { writeHashed } from './local/stage-writer.js';

const DEFAULT_CHUNK = 256 * 1024;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const { O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } = constants;

export interface LocalBackendOptions {
  id: number;
  root: string;
  /** Names this process's staging area, so instances sharing a root never touch each other's. */
  instanceId: string;
  /** Create the root if it is missing; otherwise a missing root (an unmounted volume) is refused. */
  create?: boolean;
}

export class LocalBackend implements Backend {
  readonly id: number;
  readonly kind = 'local' as const;
  readonly location: string;
  private readonly instanceId: string;
  private readonly create: boolean;
  private opened: { jail: Jail; staging: string; intentsDir: string; intents: IntentLog } | undefined;

  constructor(opts: LocalBackendOptions) {
    if (!SAFE_NAME.test(opts.instanceId)) {
      throw invalidArgument('BAD_INSTANCE_ID', `instance id "${opts.instanceId}" must be 1–128 letters, digits, ".", "_" or "-".`);
    }
    this.id = opts.id;
    this.location = resolve(opts.root);
    this.instanceId = opts.instanceId;
    this.create = opts.create ?? false;
  }

  async open(): Promise<void> {
    // The root itself may be a symlink (an operator's choice); nothing below it is followed.
    const found = await stat(this.location).catch(() => null);
    if (!found && !this.create) {
      throw failedPrecondition(
        'BACKEND_ROOT_MISSING',
        `backend ${this.id}: its root ${this.location} does not exist; mount or create it, or set "create: true" for this backend`,
      );
    }
    if (found && !found.isDirectory()) throw failedPrecondition('BACKEND_ROOT_MISSING', `backend ${this.id}: its root ${this.location} is not a directory`);
    if (!found) await mkdir(this.location, { recursive: true });
    const root = await realpath(this.location);
    const staging = join(root, RESERVED_DIR, 'staging');
    await mkdir(join(staging, this.instanceId), { recursive: true });
    const intentsDir = join(root, RESERVED_DIR, 'intents');
    await mkdir(join(intentsDir, this.instanceId), { recursive: true });
    await syncDirectory(intentsDir); // the area's entry is durable before its first intent
    if ((await realpath(staging)) !== staging) throw E.pathEscapes({ backendId: this.id, path: RESERVED_DIR });
    this.opened = { jail: new Jail(root, this.id), staging, intentsDir, intents: new IntentLog(intentsDir, this.instanceId) };
  }

  newStagingKey(): string {
    return `${this.instanceId}/${randomUUID()}`;
  }

  async stat(path: string): Promise<EntryStat | null> {
    const { stat } = await this.jail.resolve(path);
    if (!stat) return null;
    if (stat.isDirectory()) return { kind: 'directory', sizeBytes: 0, mtimeMs: stat.mtimeMs };
    if (stat.isFile()) return { kind: 'file', sizeBytes: stat.size, mtimeMs: stat.mtimeMs };
    throw E.kindMismatch(this.subject(path), 'it is neither a regular file nor a directory');
  }

  read(path: string, options: ReadOptions = {}): Readable {
    const { offset = 0, length, chunkSize = DEFAULT_CHUNK } = options;
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
      throw invalidArgument('BAD_RANGE', `offset and length must be non-negative integers (reading path "${path}").`);
    }
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw invalidArgument('BAD_CHUNK_SIZE', 'chunkSize must be a positive integer.');
    const openFile = async () => {
      const target = await this.jail.resolve(path);
      this.requireFile(target);
      return open(target.abs, O_RDONLY | O_NOFOLLOW);
    };
    return new RangeReadStream(openFile, (err) => E.fsError(err, this.subject(path)), offset, length, chunkSize);
  }

  async stage(key: string, chunks: AsyncIterable<Uint8Array>, options: StageOptions = {}): Promise<StagedContent> {
    const file = await this.stagingPath(key, true);
    const subject = this.subject(key, true);
    let fh;
    try {
      fh = await open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    } catch (err) {
      throw E.fsError(err, subject); // EEXIST: the key is taken; leave that object alone
    }
    try {
      const { maxBytes } = options;
      const tooLarge = () =>
        resourceExhausted('UPLOAD_TOO_LARGE', `the upload is larger than the limit of ${maxBytes} bytes; send a smaller file or raise the limit.`, {
          maxBytes: String(maxBytes),
        });
      const written = await writeHashed(fh, chunks, maxBytes, tooLarge);
      await fh.datasync(); // the content and its size; the timestamps need not be durable
      void fh.close().catch(() => undefined); // durable already: the caller need not wait for the close
      fh = undefined;
      // Its name in staging is not synced: publish's rename makes the entry durable where it counts, and
      // a staged object lost to a power cut before then is one that crash recovery would discard.
      return { key, ...written };
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await rm(file, { force: true }).catch(() => undefined);
      throw E.fsError(err, subject);
    }
  }

  async stageCopy(path: string, key: string): Promise<void> {
    const source = await this.jail.resolve(path);
    const dst = await this.freshStagingPath(key);
    if (!source.stat) throw E.pathMissing(this.subject(path));
    try {
      if (source.stat.isFile()) await copyFileDurable(source.abs, dst);
      else if (source.stat.isDirectory()) {
        await copyTree(source.abs, dst, {
          refuse: (abs, kind) =>
            kind === 'symlink'
              ? E.pathEscapes(this.subject(this.relative(abs)))
              : E.kindMismatch(this.subject(this.relative(abs)), 'it is neither a regular file nor a directory, so it cannot be copied'),
          skipTop: path === '' ? (name) => name === RESERVED_DIR : undefined,
        });
      } else throw E.kindMismatch(this.subject(path), 'it is neither a regular file nor a directory');
      await syncDirectory(dirname(dst));
    } catch (err) {
      await rm(dst, { recursive: true, force: true }).catch(() => undefined);
      throw E.fsError(err, this.subject(path));
    }
  }

  async publish(key: string, path: string, step: DiskStep = {}): Promise<void> {
    const [src, target] = await Promise.all([this.stagingPath(key), this.mutable(path, 'publish to')]);
    if (!target.parentExists) throw E.parentMissing(this.subject(path));
    if (target.stat?.isDirectory()) throw E.pathExists(this.subject(path), 'a directory is there and publishing never replaces a directory');
    try {
      await rename(src, target.abs);
    } catch (err) {
      if (E.errnoOf(err) === 'ENOENT') {
        throw (await lstatOrNull(src)) ? E.parentMissing(this.subject(path)) : E.pathMissing(this.subject(key, true));
      }
      throw E.fsError(err, this.subject(path));
    }
    if (!step.deferSync) await syncDirectory(dirname(target.abs));
  }

  async syncParents(paths: string[]): Promise<void> {
    const parents = new Set(paths.map((p) => dirname(this.state.jail.absolute(p))));
    await Promise.all([...parents].map(syncDirectory));
  }

  async unpublish(path: string, key: string): Promise<void> {
    const [source, dst] = await Promise.all([this.mutable(path, 'unpublish'), this.freshStagingPath(key)]);
    if (!source.stat) throw E.pathMissing(this.subject(path));
    try {
      await rename(source.abs, dst);
    } catch (err) {
      throw E.fsError(err, this.subject(path));
    }
    await Promise.all([syncDirectory(dirname(source.abs)), syncDirectory(dirname(dst))]);
  }

  async stagingExists(key: string): Promise<boolean> {
    return (await lstatOrNull(await this.stagingPath(key))) !== null;
  }

  async stageTree(key: string, entries: AsyncIterable<StagedEntry>): Promise<void> {
    const dst = await this.freshStagingPath(key);
    const dirs: string[] = [];
    let current = key;
    try {
      for await (const e of entries) {
        current = e.path;
        const abs = e.path === '' ? dst : join(dst, e.path);
        if (e.kind === 'directory') {
          await mkdir(abs);
          dirs.push(abs);
          continue;
        }
        const fh = await open(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
        try {
          await writeHashed(fh, e.content ?? noContent(), undefined, () => new Error('unreachable'));
          await fh.datasync();
        } finally {
          await fh.close();
        }
      }
      // Each directory's entries, then the tree's own entry in staging: durable before publish.
      await Promise.all(dirs.map(syncDirectory));
      await syncDirectory(dirname(dst));
    } catch (err) {
      await rm(dst, { recursive: true, force: true }).catch(() => undefined);
      throw E.fsError(err, this.subject(current === key ? key : current, current === key));
    }
  }

  async discard(key: string): Promise<void> {
    await rm(await this.stagingPath(key), { recursive: true, force: true });
  }

  async stagingOwners(): Promise<string[]> {
    return (await readdirOrEmpty(this.stagingDir)).filter((name) => SAFE_NAME.test(name));
  }

  async listStaging(owner: string = this.instanceId): Promise<string[]> {
    if (!SAFE_NAME.test(owner)) return [];
    // Only names this backend makes: a stray file (an editor's, NFS's .nfsXXXX) is not a staging object.
    return (await readdirOrEmpty(join(this.stagingDir, owner))).filter((name) => SAFE_NAME.test(name)).map((name) => `${owner}/${name}`);
  }

  async removeStagingArea(owner: string): Promise<void> {
    if (!SAFE_NAME.test(owner)) return;
    try {
      await rmdir(join(this.stagingDir, owner));
    } catch (err) {
      if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(E.errnoOf(err) ?? '')) throw err;
    }
  }

  async writeIntent(id: number, body: string): Promise<void> {
    if (this.state.intents.closed) throw unavailable('SERVER_SHUTTING_DOWN', 'the server is stopping; retry on another instance');
    try {
      await this.state.intents.append(id, body);
    } catch (err) {
      throw E.fsError(err, this.subject(RESERVED_DIR));
    }
  }

  async intentDone(id: number): Promise<void> {
    await this.state.intents.done(id);
  }

  async closeIntents(): Promise<boolean> {
    return this.opened ? this.state.intents.close() : true;
  }

  async intentOwners(): Promise<string[]> {
    return (await readdirOrEmpty(this.intentsDir)).filter((name) => SAFE_NAME.test(name));
  }

  async listIntents(owner: string): Promise<IntentListing> {
    if (!SAFE_NAME.test(owner)) return { intents: [], segments: [], unreadable: 0 };
    return readIntents(this.intentsDir, owner, (segment) => this.ownRun(owner, segment));
  }

  async removeIntents(owner: string, listing: IntentListing): Promise<void> {
    if (!SAFE_NAME.test(owner)) return;
    await removeIntents(this.intentsDir, owner, listing, owner === this.instanceId && !!this.opened);
  }

  private ownRun(owner: string, segment: string): boolean {
    return owner === this.instanceId && this.state.intents.ownsSegment(segment);
  }

  async mkdir(path: string, step: DiskStep = {}): Promise<void> {
    if (path === '') throw E.pathExists(this.subject(path), 'the root always exists');
    const target = await this.jail.resolveParent(path);
    if (!target.parentExists) throw E.parentMissing(this.subject(path));
    try {
      await mkdir(target.abs); // never follows a link there: EEXIST, whatever is at the path
    } catch (err) {
      const code = E.errnoOf(err);
      if (code === 'EEXIST') throw (await lstatOrNull(target.abs))?.isSymbolicLink() ? E.pathEscapes(this.subject(path)) : E.pathExists(this.subject(path));
      throw code === 'ENOENT' ? E.parentMissing(this.subject(path)) : E.fsError(err, this.subject(path));
    }
    if (!step.deferSync) await syncDirectory(dirname(target.abs));
  }

  async rename(from: string, to: string): Promise<void> {
    const [source, target] = await Promise.all([this.mutable(from, 'rename'), this.mutable(to, 'rename onto')]);
    if (!source.stat) throw E.pathMissing(this.subject(from));
    if (from === to) return;
    if (!target.parentExists) throw E.parentMissing(this.subject(to));
    // Node has no renameat2(RENAME_NOREPLACE); this check plus ENOTEMPTY/EEXIST below
    // leave only an empty directory created in between at risk of being replaced.
    if (target.stat?.isDirectory()) throw E.pathExists(this.subject(to), 'a directory is there and rename never replaces a directory');
    try {
      await rename(source.abs, target.abs);
    } catch (err) {
      const code = E.errnoOf(err);
      if (code === 'EINVAL') throw failedPrecondition('BACKEND_MOVE_INTO_ITSELF', `cannot move "${from}" into its own subtree "${to}".`);
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw E.pathExists(this.subject(to));
      if (code === 'ENOENT') throw (await lstatOrNull(source.abs)) ? E.parentMissing(this.subject(to)) : E.pathMissing(this.subject(from));
      throw E.fsError(err, this.subject(to));
    }
    const parents = new Set([dirname(source.abs), dirname(target.abs)]);
    await Promise.all([...parents].map(syncDirectory));
  }

  async remove(path: string): Promise<void> {
    const target = await this.mutable(path, 'remove');
    if (!target.stat) return;
    try {
      if (target.stat.isDirectory()) await rmdir(target.abs);
      else await unlink(target.abs);
    } catch (err) {
      if (E.errnoOf(err) === 'ENOENT') return;
      throw E.fsError(err, this.subject(path));
    }
    await syncDirectory(dirname(target.abs));
  }

  // Every step is one rename: nothing to settle after a crash.
  async settlePublish(): Promise<void> {}
  async settleRename(): Promise<void> {}
  async settleUnpublish(): Promise<void> {}

  // --- helpers ---

  private get jail(): Jail {
    return this.state.jail;
  }

  private get stagingDir(): string {
    return this.state.staging;
  }

  private get intentsDir(): string {
    return this.state.intentsDir;
  }

  private get state(): { jail: Jail; staging: string; intentsDir: string; intents: IntentLog } {
    if (!this.opened) throw failedPrecondition('BACKEND_NOT_OPEN', `backend ${this.id} is used before open(); call open() first.`);
    return this.opened;
  }

  private subject(path: string, staging = false): E.Subject {
    return { backendId: this.id, path, staging };
  }

  private relative(abs: string): string {
    return abs.slice(this.jail.root.length + 1);
  }

  private requireFile(target: Resolved): void {
    if (!target.stat) throw E.pathMissing(this.subject(target.rel));
    if (!target.stat.isFile()) {
      throw E.kindMismatch(this.subject(target.rel), target.stat.isDirectory() ? 'it is a directory, not a file' : 'it is not a regular file');
    }
  }

  /** Resolves a path that the operation will change; the root itself cannot be. */
  private async mutable(path: string, op: string): Promise<Resolved> {
    if (path === '') throw E.rootNotAllowed(this.subject(path), op);
    return this.jail.resolve(path);
  }

  /**
   * Absolute path of staging object `key` ("<owner>/<name>"), after checking the key and that the
   * owner's staging area is no symlink. `create`: remake the area if it is gone (an operator or a
   * recovery that took this process for dead removed it).
   */
  private async stagingPath(key: string, create = false): Promise<string> {
    const [owner, name, ...rest] = key.split('/');
    if (rest.length || !SAFE_NAME.test(owner) || !SAFE_NAME.test(name ?? '')) {
      throw invalidArgument('BAD_STAGING_KEY', `staging key "${key}" is malformed; use newStagingKey().`);
    }
    const dir = join(this.stagingDir, owner);
    let real = await realpathOrNull(dir);
    if (real === null && create) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        throw failedPrecondition('BACKEND_STAGING_MISSING', `the staging area of backend ${this.id} cannot be made (${E.errnoOf(err)}); check ${this.location}/${RESERVED_DIR}.`);
      }
      real = await realpathOrNull(dir);
    }
    if (real !== null && real !== dir) throw E.pathEscapes(this.subject(RESERVED_DIR));
    return join(dir, name);
  }

  /** Like stagingPath, for a key that must not be in use yet. */
  private async freshStagingPath(key: string): Promise<string> {
    const p = await this.stagingPath(key, true);
    if (await lstatOrNull(p)) {
      throw E.pathExists(this.subject(key, true), 'staging key already in use; take a new one from newStagingKey()');
    }
    return p;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (E.errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

async function realpathOrNull(p: string): Promise<string | null> {
  try {
    return await sharedRealpath(p);
  } catch (err) {
    if (E.errnoOf(err) === 'ENOENT') return null;
    throw err;
  }
}
