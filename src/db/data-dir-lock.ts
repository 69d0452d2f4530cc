// One process at a time on a data directory: a lock file that names its holder.
//
// A record appears whole or not at all: it is written to a file of its own, fsynced, then link()ed
// to the lock's name, which fails if the name exists. A holder that died leaves its record behind;
// the next starter checks the holder's liveness (process-identity.ts) and replaces the record. Only
// the process that created `<lock>.takeover-<token of the dead record>` (the same way, so only one
// can) may replace that record, and it re-reads the lock first: the record it replaces is the one it
// judged dead, whatever happened meanwhile. A taker that dies leaves its claim behind, which is
// taken over by the same rule, one level down. See docs/decisions/005-embedded-database-lock.md.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StartupError } from '../errors/startup-error.js';
import { judge, thisProcess, type ProcessIdentity, type Verdict } from './process-identity.js';

/** What the holder is, for the message another process shows. */
export interface LockPurpose {
  /** e.g. 'server', 'migrate', 'rollups:recompute' */
  role: string;
  address?: string;
}

export interface LockRecord extends ProcessIdentity, LockPurpose {
  since: string;
  /** Unique to one acquisition: names the claim that may replace this record. */
  token: string;
}

export interface DataDirLock {
  readonly file: string;
  readonly record: LockRecord;
  /** Removes the lock file if it is still this holder's. Idempotent; synchronous, for process exit. */
  release(): void;
}

/** How long a starter waits for another's takeover of a dead holder's lock to finish. */
const TAKEOVER_WAIT_MS = 3000;
/** A leftover that is not a record is removed once this old: no writer pauses that long between open and write. */
const GARBAGE_AGE_MS = 60_000;
const TOKEN = /^[0-9a-f]{32}$/;

/** Locks this process holds, released on 'exit' too; a process killed leaves its lock to the next starter's liveness check. */
const held = new Set<DataDirLock>();
process.on('exit', () => {
  for (const lock of held) lock.release();
});

/** Takes `<dataDir>/<name>` for this process, or throws a StartupError naming the process that holds it. */
export async function lockDataDir(dataDir: string, name: string, purpose: LockPurpose): Promise<DataDirLock> {
  const file = path.join(dataDir, name);
  const record: LockRecord = { ...thisProcess(), ...purpose, since: new Date().toISOString(), token: randomBytes(16).toString('hex') };
  await acquire(file, record, dataDir);
  removeLeftovers(file);
  const lock: DataDirLock = {
    file,
    record,
    release() {
      if (!held.delete(lock)) return;
      try {
        releaseFile(file, record);
      } catch {
        // the data directory is gone or unreadable: nothing left to release
      }
    },
  };
  held.add(lock);
  return lock;
}

/** The record in a lock file: undefined if there is none, 'garbled' if it is not one. */
export function readRecord(file: string): LockRecord | 'garbled' | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const r = JSON.parse(text) as LockRecord;
    const stringOrNull = (v: unknown) => v === null || typeof v === 'string';
    const ok = Number.isSafeInteger(r.pid) && r.pid > 0 && typeof r.host === 'string' && typeof r.role === 'string'
      && typeof r.since === 'string' && typeof r.token === 'string' && TOKEN.test(r.token)
      && stringOrNull(r.bootId) && stringOrNull(r.pidNamespace) && stringOrNull(r.startTime);
    return ok ? r : 'garbled';
  } catch {
    return 'garbled';
  }
}

/** `file` is held by a process that runs, or may run (another host or namespace). */
class Held extends Error {
  constructor(
    readonly file: string,
    readonly holder: LockRecord,
    readonly verdict: Verdict,
  ) {
    super(`${file} is held`);
  }
}

class Garbled extends Error {
  constructor(readonly file: string) {
    super(`${file} is not a lock record`);
  }
}

async function acquire(file: string, me: LockRecord, dataDir: string): Promise<void> {
  const deadline = Date.now() + TAKEOVER_WAIT_MS;
  for (;;) {
    try {
      if (tryAcquire(file, me)) return;
    } catch (err) {
      if (err instanceof Garbled) throw garbled(err.file, dataDir);
      if (!(err instanceof Held)) throw err;
      if (err.file === file || err.verdict.state !== 'alive') throw refusal(err, dataDir);
      if (Date.now() > deadline) throw takeoverInProgress(err, dataDir);
      await sleep(20); // a live process is taking a dead holder's lock over: wait for its outcome
      continue;
    }
    if (Date.now() > deadline) throw new StartupError([`${file} keeps changing: other processes are starting on ${dataDir} too; try again`]);
  }
}

/**
 * true: `me` holds `file`. false: it changed meanwhile, look again from the top. Throws Held if a
 * live (or unknowable) process holds `file` or the claim to take it over.
 */
function tryAcquire(file: string, me: LockRecord): boolean {
  if (publish(file, me, 'link')) return true;
  const holder = readRecord(file);
  if (holder === undefined) return false; // released meanwhile
  if (holder === 'garbled') throw new Garbled(file);
  const verdict = judge(holder);
  if (verdict.state !== 'dead') throw new Held(file, holder, verdict);
  const claim = `${file}.takeover-${holder.token}`;
  if (!tryAcquire(claim, me)) return false;
  try {
    if (readToken(file) !== holder.token) return false; // another taker replaced it first
    publish(file, me, 'rename');
    return true;
  } finally {
    releaseFile(claim, me);
  }
}

function readToken(file: string): string | undefined {
  const r = readRecord(file);
  return typeof r === 'object' ? r.token : undefined;
}

/** Writes `record` to a fresh file and puts it in place: by link() only if `file` is absent, by rename() over it. */
function publish(file: string, record: LockRecord, how: 'link' | 'rename'): boolean {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(record, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (how === 'rename') renameSync(temp, file);
    else linkSync(temp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
      throw new StartupError([`${path.dirname(file)} does not allow hard links (${code}), which the embedded database's lock needs: put FILESTORE_DATA_DIR on a local filesystem`]);
    }
    throw err;
  } finally {
    unlinkQuietly(temp); // after a rename: already gone
  }
}

function releaseFile(file: string, record: LockRecord): void {
  if (readToken(file) === record.token) unlinkQuietly(file);
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Claims and temporary files left by processes killed halfway through. Called while holding the
 * lock: a claim only matters for the token in the lock file, which is now ours.
 */
function removeLeftovers(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || !(name.endsWith('.tmp') || name.includes('.takeover-'))) continue;
    const leftover = path.join(dir, name);
    try {
      const r = readRecord(leftover);
      if (r === undefined) continue;
      const gone = r === 'garbled' ? Date.now() - statSync(leftover).mtimeMs > GARBAGE_AGE_MS : judge(r).state === 'dead';
      if (gone) unlinkQuietly(leftover);
    } catch {
      // removed meanwhile by another process
    }
  }
}

function describe(r: LockRecord): string {
  const me = thisProcess();
  const who = r.pid === me.pid && r.startTime === me.startTime && r.host === me.host ? `this process, pid ${r.pid}` : `pid ${r.pid}`;
  const what = r.address ? `${r.role}, gRPC ${r.address}` : r.role;
  return `${who} on host ${r.host} (${what}), since ${r.since}`;
}

function refusal({ file, holder, verdict }: Held, dataDir: string): StartupError {
  if (verdict.state === 'unknowable') {
    return new StartupError([
      `the embedded database under ${dataDir} is locked by ${describe(holder)}; ${verdict.why}, so whether that process still runs cannot be told from here. Stop it; if it is gone for sure, remove ${file}`,
    ]);
  }
  return new StartupError([`the embedded database under ${dataDir} is in use by ${describe(holder)}. Stop that process first; if it is gone for sure, remove ${file}`]);
}

function takeoverInProgress({ holder }: Held, dataDir: string): StartupError {
  return new StartupError([`the embedded database under ${dataDir}: ${describe(holder)} is taking over the lock of a process that died and has not finished: try again in a moment`]);
}

function garbled(file: string, dataDir: string): StartupError {
  return new StartupError([`${file} is not a lock record this version can read: if no filestore process uses ${dataDir}, remove ${file}`]);
}
