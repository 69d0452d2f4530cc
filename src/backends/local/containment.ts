// docs/architecture.md, Invariants 7: every operation stays inside the backend root.
//
// Rule: the local backend refuses ALL symbolic links, wherever they appear in a path
// (a parent component or the last one), whether they point inside or outside the root,
// with PERMISSION_DENIED / PATH_ESCAPES_ROOT. Refusing every link (rather than only
// links that resolve outside) keeps one node per on-disk object (no aliasing, so rollups
// stay right), keeps tree copies free of cycles, and needs no realpath of a link target
// that could change between the check and the use.
//
// Check: realpath(parent) must equal the lexical parent (one native call; any link in
// the chain makes them differ), then lstat of the last component must not be a link.
// Files are then opened with O_NOFOLLOW. Node has no openat/RESOLVE_BENEATH, so a
// process writing into the root concurrently could still swap a checked directory for
// a link between check and use; the service itself never creates links.
import { lstat } from 'node:fs/promises';
import { sharedRealpath } from './shared-realpath.js';
import type { Stats } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { errnoOf, fsError, pathEscapes, pathReserved, type Subject } from './errors.js';

import { RESERVED_DIR } from '../backend.js';

export { RESERVED_DIR };

export interface Resolved {
  rel: string;
  abs: string;
  /** False when the parent directory (or one of its ancestors) is missing. */
  parentExists: boolean;
  /** lstat of the path itself; null when absent. Never a symlink. */
  stat: Stats | null;
}

const isAbsent = (err: unknown): boolean => {
  const code = errnoOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
};

export async function lstatOrNull(abs: string): Promise<Stats | null> {
  try {
    return await lstat(abs);
  } catch (err) {
    if (isAbsent(err)) return null;
    throw err;
  }
}

export class Jail {
  /** @param root the real (symlink-free) absolute path of the backend root */
  constructor(
    readonly root: string,
    readonly backendId: number,
  ) {}

  subject(rel: string): Subject {
    return { backendId: this.backendId, path: rel };
  }

  /** The absolute path of `rel`; refuses anything that would leave the root or enter .filestore. */
  absolute(rel: string): string {
    if (rel === '') return this.root;
    const abs = resolve(this.root, rel);
    if (!abs.startsWith(this.root + sep)) throw pathEscapes(this.subject(rel));
    const first = relative(this.root, abs).split(sep, 1)[0];
    if (first === RESERVED_DIR) throw pathReserved(this.subject(rel));
    return abs;
  }

  /** As resolve, without looking at `rel` itself: for a step that fails on its own when something is there (mkdir). */
  async resolveParent(rel: string): Promise<Omit<Resolved, 'stat'>> {
    const abs = this.absolute(rel);
    const parent = dirname(abs);
    try {
      const parentExists = abs === this.root || parent === this.root || (await this.checkDirectory(rel, parent));
      return { rel, abs, parentExists };
    } catch (err) {
      throw fsError(err, this.subject(rel));
    }
  }

  async resolve(rel: string): Promise<Resolved> {
    const abs = this.absolute(rel);
    const parent = dirname(abs);
    try {
      const parentExists = abs === this.root || parent === this.root || (await this.checkDirectory(rel, parent));
      const stat = parentExists ? await lstatOrNull(abs) : null;
      if (stat?.isSymbolicLink()) throw pathEscapes(this.subject(rel));
      return { rel, abs, parentExists, stat };
    } catch (err) {
      throw fsError(err, this.subject(rel));
    }
  }

  /** True when `dir` exists with no link on the way; false when missing; throws on a link. */
  private async checkDirectory(rel: string, dir: string): Promise<boolean> {
    try {
      if ((await sharedRealpath(dir)) === dir) return true;
    } catch (err) {
      if (!isAbsent(err)) throw err;
      return this.walk(rel, dir);
    }
    throw pathEscapes(this.subject(rel));
  }

  /** Slow path when something is missing: lstat each component from the root down. */
  private async walk(rel: string, dir: string): Promise<boolean> {
    let current = this.root;
    for (const part of relative(this.root, dir).split(sep)) {
      current = join(current, part);
      const st = await lstatOrNull(current);
      if (!st) return false;
      if (st.isSymbolicLink()) throw pathEscapes(this.subject(rel));
      if (!st.isDirectory()) return true; // let the operation fail with ENOTDIR → KIND_MISMATCH
    }
    return true;
  }
}
