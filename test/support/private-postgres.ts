// A private PostgreSQL cluster for tests that crash the database (kill -9) and start it again:
// never the machine's shared PostgreSQL. initdb into a fresh temp directory, trust auth on
// 127.0.0.1 only, a spare port, fsync on. PostgreSQL refuses to run as root: as root it runs as the
// `postgres` OS user.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { sparePort } from './redis.js';

const run = promisify(execFile);

export interface PrivatePostgres {
  port: number;
  dataDir: string;
  /** Lines the postmaster and its children logged, across restarts. */
  output: string[];
  /** The running postmaster's pid, or null while it is down. */
  readonly pid: number | null;
  url(database?: string): string;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** SIGKILL to the postmaster and every child at once (a crash: no shutdown code runs); resolves once all are gone. */
  kill9(): Promise<void>;
  /** Starts the postmaster again on the same data directory and port (crash recovery) and waits until it answers queries. */
  start(): Promise<void>;
  /** Shuts the cluster down (or kills it) and removes its directory. Safe to call twice, and after a failed start. */
  stop(): Promise<void>;
}

/** Where initdb and postgres are: $PG_BINDIR, else the newest /usr/lib/postgresql/<version>/bin that has both. */
export function postgresBinDir(): string {
  const hasServer = (dir: string) => existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'postgres'));
  const candidates = process.env.PG_BINDIR
    ? [process.env.PG_BINDIR]
    : (existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql') : [])
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`);
  const found = candidates.find(hasServer);
  if (!found) {
    throw new Error(
      `this test starts a private PostgreSQL cluster and needs the PostgreSQL server binaries (initdb, postgres), found in none of: ${candidates.join(', ') || '/usr/lib/postgresql/<version>/bin'}. ` +
        'Install them (Debian: apt-get install postgresql) or set PG_BINDIR to their directory.',
    );
  }
  return found;
}

/** The uid and gid to run PostgreSQL as: the `postgres` user when we are root, else ourselves. */
function serverUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, this test needs a `postgres` OS user to run PostgreSQL as (PostgreSQL refuses to run as root)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

// --- processes, from /proc ---------------------------------------------------------------------

/** Live (not zombie) processes whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat && stat.ppid === ppid && stat.state !== 'Z') out.push(Number(name));
  }
  return out;
}

function procStat(pid: number): { state: string; ppid: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const [state, ppid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/** The process exists and is not a zombie (PID 1 here may be slow to reap, or never reap, the killed children). */
export function processAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== null && stat.state !== 'Z';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Every backend calls setsid(), so one kill of the postmaster's process group does not reach them.
 * The postmaster is stopped first (it cannot fork a new child while we list them), then all of them
 * get SIGKILL back to back. Synchronous, so that an exit handler can use it.
 */
function killTree(postmaster: number): number[] {
  signal(postmaster, 'SIGSTOP');
  // Stopped means out of any fork() it was in: its newest child is listed too.
  for (let waited = 0; waited < 500 && !['T', 't'].includes(procStat(postmaster)?.state ?? 'T'); waited++) sleepSync(1);
  const victims = [...childrenOf(postmaster), postmaster];
  for (const pid of victims) signal(pid, 'SIGKILL');
  return victims;
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

async function waitGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids.filter(processAlive);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`PostgreSQL processes ${left.join(', ')} still run ${timeoutMs} ms after SIGKILL`);
    await sleep(10);
  }
}

// --- the cluster -------------------------------------------------------------------------------

const SETTINGS = (port: number, socketDir: string) => `
# private test cluster (test/support/private-postgres.ts)
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${socketDir}'
max_connections = 80
shared_buffers = 16MB
# Durability is what the tests check: the running server syncs as in production.
fsync = on
synchronous_commit = on
full_page_writes = on
# Dynamic shared memory in the data directory, removed with it (not left in /dev/shm after a kill -9).
dynamic_shared_memory_type = mmap
huge_pages = off
logging_collector = off
log_min_messages = warning
`;

const HBA = `
local all all trust
host all all 127.0.0.1/32 trust
`;

/** initdb, then the postmaster on a spare port; resolves once it answers queries. */
export async function startPrivatePostgres(timeoutMs = 30_000): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  const user = serverUser();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'filestore-pg-'));
  const dataDir = path.join(dir, 'data');
  const output: string[] = [];
  let child: ChildProcess | null = null;
  let port = 0;

  const running = () => !!child && child.exitCode === null && child.signalCode === null;
  const spawnOptions = { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' }, ...(user ?? {}) };
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;

  // A test process that ends without stop() (an uncaught error, AVA's SIGTERM on a timeout, Ctrl-C)
  // leaves no postmaster behind: it runs in a session of its own, so no signal reaches it otherwise.
  const onExit = () => {
    if (running()) killTree(child!.pid!);
    removeSysvSegment(dataDir);
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    onExit();
    forgetProcessEnd();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig); // then the default: die of it
  };
  const forgetProcessEnd = () => {
    process.off('exit', onExit);
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.off(sig, onSignal);
  };
  process.once('exit', onExit);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, onSignal);

  async function launch(): Promise<void> {
    const proc = spawn(path.join(bin, 'postgres'), ['-D', dataDir], { ...spawnOptions, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    for (const s of [proc.stdout!, proc.stderr!]) s.on('data', (d) => output.push(...d.toString().split('\n').filter(Boolean)));
    let spawnError: Error | null = null;
    proc.once('error', (err) => (spawnError = err));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (spawnError) throw new Error(`cannot start ${bin}/postgres: ${(spawnError as Error).message}`);
      if (!running()) throw new Error(`postgres on port ${port} exited (${proc.exitCode ?? proc.signalCode}):\n${output.join('\n')}`);
      // Ours, not another server that took the port first: its data directory is ours.
      if ((await dataDirectoryOn(port)) === dataDir) return;
      if (Date.now() > deadline) throw new Error(`postgres on port ${port} did not answer in ${timeoutMs} ms:\n${output.join('\n')}`);
      await sleep(25);
    }
  }

  async function kill9(): Promise<void> {
    const proc = child;
    if (!proc || !running()) throw new Error('kill9: PostgreSQL is not running');
    const exited = once(proc, 'exit');
    const victims = killTree(proc.pid!);
    await exited;
    await waitGone(victims, 10_000);
  }

  async function stop(): Promise<void> {
    forgetProcessEnd();
    const proc = child;
    if (proc && running()) {
      const exited = once(proc, 'exit');
      proc.kill('SIGINT'); // fast shutdown: releases its shared memory
      const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!stopped) await kill9();
    }
    removeSysvSegment(dataDir);
    await rm(dir, { recursive: true, force: true });
  }

  try {
    if (user) await chown(dir, user.uid, user.gid);
    await run(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], spawnOptions).catch(
      (err) => {
        throw new Error(`initdb failed: ${(err as Error).message}`);
      },
    );
    await writeFile(path.join(dataDir, 'pg_hba.conf'), HBA);
    for (let attempt = 1; ; attempt++) {
      port = await sparePort();
      await writeFile(path.join(dataDir, 'postgresql.auto.conf'), SETTINGS(port, dir));
      try {
        await launch();
        break;
      } catch (err) {
        // The spare port can be taken by someone else between our probe and the postmaster's bind.
        if (attempt >= 3 || !/exited/.test((err as Error).message) || running()) throw err;
      }
    }
  } catch (err) {
    if (running()) await kill9().catch(() => {});
    await stop();
    throw err;
  }

  return {
    port,
    dataDir,
    output,
    get pid() {
      return running() ? child!.pid! : null;
    },
    url,
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}"`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    kill9,
    async start() {
      if (running()) throw new Error('start: PostgreSQL is still running');
      await launch();
    },
    stop,
  };
}

/** The data directory of the server answering on `port`, or null if none answers queries yet. */
async function dataDirectoryOn(port: number): Promise<string | null> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1000 });
  c.on('error', () => {});
  try {
    await c.connect();
    const { rows } = await c.query<{ data_directory: string }>('SHOW data_directory');
    return rows[0].data_directory;
  } catch {
    return null;
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * A postmaster killed and not started again leaves its small System V segment behind (a restart
 * would reuse it); postmaster.pid names it. IPC_RMID waits for the last process to detach.
 * Synchronous, so that an exit handler can use it. Best effort: ipcrm may be missing.
 */
function removeSysvSegment(dataDir: string): void {
  try {
    const shmid = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[6]?.trim().split(/\s+/)[1];
    if (shmid && /^\d+$/.test(shmid)) execFileSync('ipcrm', ['-m', shmid], { stdio: 'ignore' });
  } catch {
    // shut down cleanly (no postmaster.pid), never started, or already removed
  }
}
