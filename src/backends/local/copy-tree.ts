// Durable copy of a file or a directory tree (for Backend.stageCopy). Every file is
// fsynced, and every directory after its entries exist. Symlinks are refused (see
// containment.ts); sockets, FIFOs and devices are refused too.
import { constants } from 'node:fs';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDirectory, syncFile } from './fsync.js';

/** File copies in flight at once, over the whole tree. */
const PARALLEL_FILES = 8;

export interface CopyHooks {
  /** Error for an entry that is a symlink or not a regular file/directory (abs = source path). */
  refuse(abs: string, kind: 'symlink' | 'special'): Error;
  /** Entries of the top directory to leave out (the staging area when copying the root). */
  skipTop?: (name: string) => boolean;
}

class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

export async function copyFileDurable(src: string, dst: string): Promise<void> {
  // FICLONE makes a reflink where the file system supports it and falls back to a copy.
  await copyFile(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  await syncFile(dst);
}

export async function copyTree(src: string, dst: string, hooks: CopyHooks): Promise<void> {
  const limiter = new Limiter(PARALLEL_FILES);
  const copyDir = async (from: string, to: string, top: boolean): Promise<void> => {
    await mkdir(to);
    const entries = await readdir(from, { withFileTypes: true });
    const results = await Promise.allSettled(
      entries.map(async (entry) => {
        if (top && hooks.skipTop?.(entry.name)) return;
        const s = join(from, entry.name);
        const d = join(to, entry.name);
        if (entry.isDirectory()) return copyDir(s, d, false);
        if (entry.isFile()) return limiter.run(() => copyFileDurable(s, d));
        throw hooks.refuse(s, entry.isSymbolicLink() ? 'symlink' : 'special');
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await syncDirectory(to);
  };
  await copyDir(src, dst, true);
}
