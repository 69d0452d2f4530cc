// The embedded database is readable by its owner alone: directories 0700, files without group or
// other bits. PGlite's initdb leaves files 0666 and directories as the umask has them, whatever
// the umask; files it creates later are 0600, or as the umask has them (pg_internal.init), so the
// directory's 0700 is what keeps those private.
import { chmodSync, lstatSync, readdirSync, type Stats } from 'node:fs';
import path from 'node:path';

/** 0700, unless the directory is not ours to change (another user's, or a shared sticky one like /tmp). */
export function makeDirPrivate(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || st.mode & 0o1000) return;
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** Every directory below `root` (and itself) 0700, every file without group and other bits; symlinks untouched. */
export function makeTreePrivate(root: string): void {
  const walk = (p: string, st: Stats) => {
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      if ((st.mode & 0o777) !== 0o700) chmodOwn(p, 0o700);
      for (const name of readdirSync(p)) walk(path.join(p, name), lstatSync(path.join(p, name)));
    } else if (st.mode & 0o077) {
      chmodOwn(p, st.mode & 0o700);
    }
  };
  walk(root, lstatSync(root));
}

/** A file another user owns (left by a run as root, say) keeps its mode: only its owner can change it. */
function chmodOwn(p: string, mode: number): void {
  try {
    chmodSync(p, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
}
