// The storage interface every backend implements (local now, S3 later).
// Paths given here are already validated by src/paths (relative, normalised, "" = root).
// Staging keys are chosen by the caller (newStagingKey) so that a command can journal
// the key before it starts the I/O; crash recovery uses them to roll forward or back. A key names
// its owner ("<instance id>/<name>"), so any process can resolve the keys of a dead one.
import type { Readable } from 'node:stream';
import type { PathLimits } from '../paths/index.js';

export type BackendKind = 'local' | 's3';

/** Top-level name below a backend's root that belongs to the service (staging, intents); never a tracked path. */
export const RESERVED_DIR = '.filestore';

/** A backend's intents of one owner, as read: the intents, where they came from, and lines that could not be read. */
export interface IntentListing {
  intents: { id: number; body: string }[];
  /** Opaque to callers: what removeIntents removes. */
  segments: string[];
  /** Lines that are not a whole intent, other than a torn last line (its append never returned). */
  unreadable: number;
}

export interface EntryStat {
  kind: 'file' | 'directory';
  sizeBytes: number;
  mtimeMs: number;
}

export interface StagedContent {
  key: string;
  sizeBytes: number;
  /** lowercase hex */
  sha256: string;
}

/** One entry of a tree staged from elsewhere (another backend): its path below the tree's top ('' is the top). */
export interface StagedEntry {
  path: string;
  kind: 'file' | 'directory';
  /** A file's bytes. */
  content?: AsyncIterable<Uint8Array>;
}

export interface StageOptions {
  /** Refuse (RESOURCE_EXHAUSTED, reason UPLOAD_TOO_LARGE) once more bytes than this arrive. */
  maxBytes?: number;
}

export interface ReadOptions {
  offset?: number;
  /** Bytes to read; undefined reads to the end. */
  length?: number;
  /** Size of the chunks the stream yields. */
  chunkSize?: number;
}

/** How a creating step is made durable. */
export interface DiskStep {
  /** The caller syncs the parent later with syncParents (a group commit, one sync for many steps). */
  deferSync?: boolean;
}

export interface Backend {
  readonly id: number;
  readonly kind: BackendKind;
  /** A local directory, or s3://bucket/prefix. */
  readonly location: string;
  /** Limits on paths beyond the common ones (an S3 key is at most 1,024 bytes, the prefix included). */
  readonly pathLimits?: PathLimits;

  /** Checks the root (creating it only if configured to) and creates this instance's staging area. */
  open(): Promise<void>;
  newStagingKey(): string;

  stat(path: string): Promise<EntryStat | null>;
  read(path: string, options?: ReadOptions): Readable;

  /**
   * Streams chunks into staging object `key`, hashing on the way; its content durable on return (its
   * name, with publish). On failure nothing is left.
   */
  stage(key: string, chunks: AsyncIterable<Uint8Array>, options?: StageOptions): Promise<StagedContent>;
  /** Copies the file or directory tree at `path` into staging object `key`; durable on return. */
  stageCopy(path: string, key: string): Promise<void>;
  /**
   * Stages a directory tree given entry by entry (parents before children; the top first) as staging
   * object `key`, as stageCopy would have staged it; durable on return. On failure nothing is left.
   */
  stageTree(key: string, entries: AsyncIterable<StagedEntry>): Promise<void>;
  /** Atomically makes staging object `key` visible at `path`, replacing a file there; durable on return (see DiskStep). */
  publish(key: string, path: string, step?: DiskStep): Promise<void>;
  /** Atomically moves what is at `path` into staging object `key` (a delete that can still be undone). */
  unpublish(path: string, key: string): Promise<void>;
  stagingExists(key: string): Promise<boolean>;
  /** Removes staging object `key` (file or tree); no error when absent. */
  discard(key: string): Promise<void>;
  /** Instance ids that have a staging area on this backend (live or dead). */
  stagingOwners(): Promise<string[]>;
  /** Keys of `owner`'s staging objects (default: this instance's). */
  listStaging(owner?: string): Promise<string[]>;
  /** Removes `owner`'s staging area once it is empty; no error when absent or not empty. */
  removeStagingArea(owner: string): Promise<void>;

  /**
   * Intents: what a command is about to do, recorded inside its transaction before its first disk step
   * (docs/decisions/006). An intent whose entry never committed is what crash recovery resolves.
   * Durable on return.
   */
  writeIntent(id: number, body: string): Promise<void>;
  /** This process's intent `id` needs no resolving any more (its entry committed, or was resolved). */
  intentDone(id: number): Promise<void>;
  /** Instance ids that have intents on this backend (live or dead). */
  intentOwners(): Promise<string[]>;
  /** `owner`'s intents (for this process: those an earlier run with its id left). */
  listIntents(owner: string): Promise<IntentListing>;
  /**
   * At a graceful stop, once nothing is in flight: closes this process's intent log and removes it
   * when every intent in it is done. False when some remain (another process's recovery takes them).
   */
  closeIntents(): Promise<boolean>;
  /** Removes what `listing` was read from (not what was written since), and the area once empty. */
  removeIntents(owner: string, listing: IntentListing): Promise<void>;

  /** Creates one directory; its parent must exist. Durable on return (see DiskStep). */
  mkdir(path: string, step?: DiskStep): Promise<void>;
  /** Makes what deferred-sync steps created at `paths` durable: one sync per distinct parent directory. */
  syncParents(paths: string[]): Promise<void>;
  /** Atomically renames a file or directory tree; never replaces a directory. Durable on return. */
  rename(from: string, to: string): Promise<void>;
  /** Removes an empty directory or a file at `path`; used to undo a mkdir. No error when absent. */
  remove(path: string): Promise<void>;

  // Crash recovery, before it reads the backend: a step that is many operations on this backend (S3:
  // a copy, then deletes) and was cut off is brought to one end, done or not begun, so that what
  // recovery then sees is one of the states an atomic step leaves. No-ops where steps are atomic.
  /** An interrupted publish(key, path). */
  settlePublish(key: string, path: string): Promise<void>;
  /** An interrupted rename(from, to). */
  settleRename(from: string, to: string): Promise<void>;
  /** An interrupted unpublish(path, key). */
  settleUnpublish(path: string, key: string): Promise<void>;
}

/** No bytes: an empty file's content. */
export async function* noContent(): AsyncGenerator<Uint8Array> {}
