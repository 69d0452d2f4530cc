// Durable directory entries: fsync of a directory, coalesced per directory so that
// concurrent callers (many uploads publishing into one folder) share one fsync.
// A caller is only served by an fsync that *started* after it asked, so its change is covered.
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';

const running = new Map<string, Promise<void>>();
const waiting = new Map<string, Promise<void>>();

async function fsyncOnce(dir: string): Promise<void> {
  if (process.platform === 'win32') return; // directories cannot be opened for fsync there
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    void fh.close().catch(() => {}); // durable already: the caller need not wait for the close
  }
}

function run(dir: string): Promise<void> {
  const p: Promise<void> = fsyncOnce(dir).finally(() => {
    if (running.get(dir) === p) running.delete(dir);
  });
  running.set(dir, p);
  return p;
}

export function syncDirectory(dir: string): Promise<void> {
  const queued = waiting.get(dir);
  if (queued) return queued;
  const current = running.get(dir);
  if (!current) return run(dir);
  // The running fsync may have started before our change: join the next one.
  const next = current
    .catch(() => undefined)
    .then(() => {
      waiting.delete(dir);
      return run(dir);
    });
  waiting.set(dir, next);
  return next;
}

/** Opens a file just to fsync it (used after copyFile, which does not sync). */
export async function syncFile(file: string): Promise<void> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
