// A process's intents on a local backend: appended as JSON lines to log segments of its own under
// <root>/.filestore/intents/<owner>/, one write per intent (no file per command: creating and
// unlinking a file cost more than the command's own statements; bench/README.md). A segment is
// removed once every intent in it is done and a newer one is being written. Lines are appended
// before the command's first disk step, so a torn last line belongs to a command that changed nothing.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

const SEGMENT_BYTES = 1 << 20;
const SEGMENT = /^([0-9a-f]{8})-(\d{1,9})\.log$/;

interface Segment {
  name: string;
  fh: Promise<FileHandle>;
  bytes: number;
  open: Set<number>;
}

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

  async append(id: number, body: string): Promise<void> {
    const line = `${body}\n`;
    const seg = this.segmentFor(Buffer.byteLength(line));
    seg.open.add(id);
    this.bySegment.set(id, seg);
    const fh = await seg.fh;
    await fh.write(line, null, 'utf8');
  }

  async done(id: number): Promise<void> {
    const seg = this.bySegment.get(id);
    if (!seg) return;
    this.bySegment.delete(id);
    seg.open.delete(id);
    if (seg.open.size === 0 && this.rotated.has(seg)) {
      this.rotated.delete(seg);
      await (await seg.fh).close().catch(() => {});
      await unlink(join(this.dir, this.owner, seg.name)).catch(() => {});
    }
  }

  /** Segment names that belong to this process start (never read back as another run's leftovers). */
  ownsSegment(name: string): boolean {
    return name.startsWith(`${this.run}-`);
  }

  private segmentFor(bytes: number): Segment {
    if (this.current && this.current.bytes + bytes > SEGMENT_BYTES && this.current.bytes > 0) {
      const old = this.current;
      this.current = null;
      if (old.open.size === 0) void old.fh.then((fh) => fh.close()).then(() => unlink(join(this.dir, this.owner, old.name))).catch(() => {});
      else this.rotated.add(old);
    }
    if (!this.current) {
      const name = `${this.run}-${this.seq++}.log`;
      const area = join(this.dir, this.owner);
      const fh = open(join(area, name), 'a', 0o600).catch(async (err) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await mkdir(area, { recursive: true }); // remade on demand (an operator or a recovery removed it)
        return open(join(area, name), 'a', 0o600);
      });
      fh.catch(() => {
        if (this.current?.name === name) this.current = null; // the next intent tries again
      });
      this.current = { name, fh, bytes: 0, open: new Set() };
    }
    this.current.bytes += bytes;
    return this.current;
  }
}

/** Every intent found in `owner`'s segments (but `skip`'s), the last line for an id winning; torn lines skipped. */
export async function readIntents(dir: string, owner: string, skip: (segment: string) => boolean): Promise<{ id: number; body: string }[]> {
  const byId = new Map<number, string>();
  for (const name of (await readdirOrEmpty(join(dir, owner))).filter((n) => SEGMENT.test(n) && !skip(n)).sort()) {
    const text = await readFile(join(dir, owner, name), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const id = (JSON.parse(line) as { id?: unknown }).id;
        if (typeof id === 'number' && Number.isSafeInteger(id)) byId.set(id, line);
      } catch {
        // a line torn by a crash in the middle of its write: its command never reached its disk step
      }
    }
  }
  return [...byId].sort((a, b) => a[0] - b[0]).map(([id, body]) => ({ id, body }));
}

/** Removes `owner`'s segments (but `keep`'s) and, when nothing is left, the area. */
export async function removeIntents(dir: string, owner: string, keep: (segment: string) => boolean): Promise<void> {
  const area = join(dir, owner);
  for (const name of await readdirOrEmpty(area)) {
    if (SEGMENT.test(name) && !keep(name)) await rm(join(area, name), { force: true });
  }
  await rmdir(area).catch((err: NodeJS.ErrnoException) => {
    if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(err.code ?? '')) throw err;
  });
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
