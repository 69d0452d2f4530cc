// A process's intents on a local backend: appended as JSON lines to log segments of its own under
// <root>/.filestore/intents/<owner>/ (no file per command: creating and unlinking a file cost more
// than the command's own statements; bench/README.md). Appends that arrive while a write is in flight
// are written together by the next one, and each write is fdatasynced before its callers go on: an
// intent is durable before its command's first disk step (docs/decisions/006). A segment is removed
// once every intent in it is done and a newer one is being written. A segment is filled with zeros
// when it is made (and synced once), so that an append changes no file size: its fdatasync then flushes
// data only, without a file-system journal commit (measured: about 40% less per sync here).
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { IntentListing } from '../backend.js';
import { syncDirectory } from './fsync.js';

const SEGMENT_BYTES = 1 << 20;
// Each write returns once its data is durable (O_DSYNC: the write and its fdatasync in one call, one
// trip to the thread pool instead of two); where the flag does not exist, an fdatasync follows.
const DSYNC = constants.O_DSYNC ?? 0;
const SEGMENT_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | DSYNC;
const SEGMENT = /^([0-9a-f]{8})-(\d{1,9})\.log(\.claimed)?$/;
const CLAIMED = '.claimed';

interface Pending {
  id: number;
  line: string;
  resolve(): void;
  reject(err: unknown): void;
}

interface Segment {
  name: string;
  fh: Promise<FileHandle>;
  bytes: number;
  /** Where the next write goes (bytes written so far). */
  written: number;
  /** Ids appended here and not yet done. */
  open: Set<number>;
  queue: Pending[];
  writing: boolean;
  /** Its directory entry is durable (synced once, before its first intent is acknowledged). */
  entrySynced: boolean;
}

class SegmentGone extends Error {}

export class IntentLog {
  /** Segments of this process start: a fixed instance id's earlier run wrote others. */
  private readonly run = randomBytes(4).toString('hex');
  private seq = 0;
  private current: Segment | null = null;
  private readonly bySegment = new Map<number, Segment>();
  private readonly rotated = new Set<Segment>();

  constructor(
    private readonly dir: string,
    readonly owner: string,
  ) {}

  /** Durable on return. */
  append(id: number, body: string): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ id, line: `${body}\n`, resolve, reject }));
  }

  async done(id: number): Promise<void> {
    const seg = this.bySegment.get(id);
    if (!seg) return;
    this.bySegment.delete(id);
    seg.open.delete(id);
    await this.removeIfFinished(seg);
  }

  /**
   * At a graceful stop, once nothing is in flight: closes the segments and removes them and the area,
   * unless an intent is still open (not done: its command's outcome is unknown). True when removed.
   */
  async close(): Promise<boolean> {
    this.closed = true;
    const segments = new Set([...this.rotated, ...(this.current ? [this.current] : [])]);
    this.current = null;
    let clean = true;
    for (const seg of segments) {
      this.rotated.add(seg);
      if (seg.open.size > 0 || seg.queue.length > 0 || seg.writing) clean = false;
      else await this.removeIfFinished(seg);
    }
    if (!clean) return false;
    // Not empty: segments claimed by a recovery that did not finish, or an earlier run's.
    return rmdir(join(this.dir, this.owner)).then(
      () => true,
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
    );
  }

  /** Closed for a graceful stop: no more appends. */
  closed = false;

  /**
   * Segments this process start is writing: never read back as leftovers. One claimed by a recovery
   * that took this process for dead is no longer written, and its own sweeps read it back.
   */
  ownsSegment(name: string): boolean {
    return name.startsWith(`${this.run}-`) && !name.endsWith(CLAIMED);
  }

  private enqueue(p: Pending): void {
    const seg = this.segmentFor(Buffer.byteLength(p.line));
    seg.open.add(p.id);
    this.bySegment.set(p.id, seg);
    seg.queue.push(p);
    // After the current task: the appends a caller makes in one go (a group commit's) share one write.
    queueMicrotask(() => this.pump(seg));
  }

  private pump(seg: Segment): void {
    if (seg.writing || seg.queue.length === 0) return;
    seg.writing = true;
    const batch = seg.queue.splice(0);
    this.flush(seg, batch)
      .then(
        () => batch.forEach((p) => p.resolve()),
        (err) => {
          // A torn or unlinked segment takes no more lines: later ones go to a new segment.
          this.retire(seg);
          for (const p of batch) {
            seg.open.delete(p.id);
            if (this.bySegment.get(p.id) === seg) this.bySegment.delete(p.id);
          }
          if (err instanceof SegmentGone) batch.forEach((p) => this.enqueue(p));
          else batch.forEach((p) => p.reject(err));
          // Lines queued behind a failed write would follow a torn one: they move too.
          const queued = seg.queue.splice(0);
          for (const p of queued) {
            seg.open.delete(p.id);
            this.enqueue(p);
          }
        },
      )
      .finally(() => {
        seg.writing = false;
        this.pump(seg);
        void this.removeIfFinished(seg);
      });
  }

  private async flush(seg: Segment, batch: Pending[]): Promise<void> {
    const fh = await seg.fh;
    const buf = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
    for (let off = 0; off < buf.length; ) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off, seg.written + off);
      if (bytesWritten <= 0) throw new Error('intent log write made no progress');
      off += bytesWritten;
    }
    seg.written += buf.length;
    if (!DSYNC) await fh.datasync();
    // Claimed by a recovery that took this process for dead (its database session was lost): the
    // claim renames a segment before reading it, so either it read these lines or this sees it gone.
    const [atPath, own] = await Promise.all([stat(join(this.dir, this.owner, seg.name)).catch(() => null), fh.stat()]);
    if (!atPath || atPath.ino !== own.ino) throw new SegmentGone();
    if (!seg.entrySynced) {
      await syncDirectory(join(this.dir, this.owner)).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'ENOENT' ? new SegmentGone() : err;
      });
      seg.entrySynced = true;
    }
  }

  private retire(seg: Segment): void {
    if (this.current === seg) this.current = null;
    this.rotated.add(seg);
  }

  private async removeIfFinished(seg: Segment): Promise<void> {
    if (seg.open.size > 0 || seg.queue.length > 0 || seg.writing || !this.rotated.has(seg)) return;
    this.rotated.delete(seg);
    await seg.fh.then((fh) => fh.close()).catch(() => {});
    await rm(join(this.dir, this.owner, seg.name), { force: true }).catch(() => {});
  }

  private segmentFor(bytes: number): Segment {
    if (this.current && this.current.bytes + bytes > SEGMENT_BYTES && this.current.bytes > 0) {
      const old = this.current;
      this.retire(old);
      void this.removeIfFinished(old);
    }
    if (!this.current) {
      const name = `${this.run}-${this.seq++}.log`;
      const area = join(this.dir, this.owner);
      const fh = open(join(area, name), SEGMENT_FLAGS, 0o600)
        .catch(async (err) => {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          await mkdir(area, { recursive: true }); // remade on demand (an operator or a recovery removed it)
          await syncDirectory(this.dir);
          return open(join(area, name), SEGMENT_FLAGS, 0o600);
        })
        .then(preallocated);
      fh.catch(() => {
        if (this.current?.name === name) this.current = null; // the next intent tries again
      });
      this.current = { name, fh, bytes: 0, written: 0, open: new Set(), queue: [], writing: false, entrySynced: false };
    }
    this.current.bytes += bytes;
    return this.current;
  }
}

/** A new segment, its blocks written (zeros) and synced before any intent goes in. */
async function preallocated(fh: FileHandle): Promise<FileHandle> {
  try {
    await fh.write(Buffer.alloc(SEGMENT_BYTES), 0, SEGMENT_BYTES, 0);
    await fh.sync();
    return fh;
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
}

/**
 * Every intent found in `owner`'s segments (but `skip`'s), the last line for an id winning. Each
 * segment is claimed (renamed) before it is read, so that its writer, if it still runs, writes again
 * what it appends after the read (IntentLog.flush). A torn last line belongs to a command whose append
 * never returned, so that changed nothing.
 */
export async function readIntents(dir: string, owner: string, skip: (segment: string) => boolean): Promise<IntentListing> {
  const byId = new Map<number, string>();
  const segments: string[] = [];
  let unreadable = 0;
  for (const found of (await readdirOrEmpty(join(dir, owner))).filter((n) => SEGMENT.test(n) && !skip(n)).sort()) {
    const name = found.endsWith(CLAIMED) ? found : `${found}${CLAIMED}`;
    // Gone from its name: claimed by another recoverer (read it too), or removed by its writer.
    if (name !== found) await rename(join(dir, owner, found), join(dir, owner, name)).catch(ignoreMissing);
    const text = await readFile(join(dir, owner, name), 'utf8').catch(ignoreMissing);
    if (text === undefined) continue; // removed: its intents were done, or resolved by another recoverer
    segments.push(name);
    const zeros = text.indexOf('\0'); // the unwritten rest of a preallocated segment
    const lines = (zeros < 0 ? text : text.slice(0, zeros)).split('\n');
    const tail = lines.pop() ?? ''; // after the last newline: empty, or torn
    for (const line of lines) {
      const id = intentId(line);
      if (id === null) unreadable++;
      else byId.set(id, line);
    }
    const id = intentId(tail); // whole but for its newline: resolving it is harmless
    if (id !== null) byId.set(id, tail);
  }
  const intents = [...byId].sort((a, b) => a[0] - b[0]).map(([id, body]) => ({ id, body }));
  return { intents, segments, unreadable };
}

function intentId(line: string): number | null {
  try {
    const id = (JSON.parse(line) as { id?: unknown }).id;
    return typeof id === 'number' && Number.isSafeInteger(id) ? id : null;
  } catch {
    return null;
  }
}

/**
 * Removes the segments a listing came from and, when nothing is left, the area (`keepArea`: not the
 * area of a log this process is writing).
 */
export async function removeIntents(dir: string, owner: string, listing: IntentListing, keepArea: boolean): Promise<void> {
  const area = join(dir, owner);
  for (const name of listing.segments) {
    if (SEGMENT.test(name)) await rm(join(area, name), { force: true });
  }
  if (keepArea) return;
  await rmdir(area).catch((err: NodeJS.ErrnoException) => {
    if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(err.code ?? '')) throw err;
  });
}

function ignoreMissing(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined;
  throw err;
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
