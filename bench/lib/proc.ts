// Child processes: the real server and the no-op twin, each `node --import tsx <script>`,
// serving on a loopback port that the child reports in its log.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { defer, trackChild } from './cleanup.js';
import { REPO_ROOT } from './env.js';

export interface Served {
  name: string;
  child: ChildProcess;
  pid: number;
  address: string;
  output: string[];
  stop(): Promise<void>;
}

/** Inherited variables that would change what the server does; the bench sets its own. */
const SCRUBBED = /^(FILESTORE_|DATABASE_URL$|REDIS_URL$|NODE_OPTIONS$)/;

export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SCRUBBED.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Starts `script` (relative to the repository root) and resolves once a log line matches
 * `ready`, whose first group is the port.
 */
export async function serve(name: string, script: string, env: Record<string, string>, ready: RegExp, timeoutMs = 60_000): Promise<Served> {
  // Compiled JavaScript runs as it is (like npm start); TypeScript goes through tsx.
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...loader, path.join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  };
  const stopEarly = defer(`stop ${name} (pid ${child.pid})`, stop);

  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start in ${timeoutMs} ms:\n${output.join('\n')}`)), timeoutMs);
      for (const stream of [child.stdout!, child.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => {
          if (output.length < 2000) output.push(line);
          const m = ready.exec(line);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
      }
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? signal}) before serving:\n${output.join('\n')}`));
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return { name, child, pid: child.pid!, address: `127.0.0.1:${port}`, output, stop: stopEarly };
  } catch (err) {
    await stopEarly();
    throw err;
  }
}

export interface Memory {
  rssMiB: number;
  hwmMiB: number;
}

/** VmRSS and VmHWM (peak RSS) from /proc/<pid>/status. */
export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]) / 1024;
  };
  return { rssMiB: kb('VmRSS'), hwmMiB: kb('VmHWM') };
}

/** Resets VmHWM to the current RSS (Linux: "5" > clear_refs); false when the kernel refuses. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

const CLOCK_TICKS = 100; // USER_HZ: 100 on Linux (getconf CLK_TCK)

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
export function cpuSecondsOf(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** PostgreSQL backends serving `database` (their title is "postgres: … <user> <database> <client> …"). */
export function postgresBackends(database: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.startsWith('postgres: ') && cmdline.split(' ').includes(database)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function sumCpu(pids: number[]): Map<number, number> {
  return new Map(pids.map((pid) => [pid, cpuSecondsOf(pid)]));
}

/** CPU seconds the whole machine has been busy (all cores: user, nice, system, irq, softirq, steal). */
export function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

export interface CpuShare {
  /** Cores' worth of CPU used by the target process over the window (1 = one full core). */
  server: number;
  /** The same for the client: this process, plus any helper processes of the client side (the events scenario's subscribers). */
  client: number;
  /** The helper processes alone (included in `client`), when there were any. */
  helpers?: number;
  /** The PostgreSQL backends of the server's database (0 for the twin and for PGlite, which runs inside the server). */
  db: number;
  /** Everything else on the machine (PostgreSQL's shared background processes, other processes): noise. */
  rest: number;
}

/**
 * Starts a CPU accounting window; the returned function ends it. `database`: also account its PostgreSQL backends;
 * `helperPids`: client-side processes besides this one, accounted as client.
 */
export function cpuWindow(pid: number, database?: string, helperPids: number[] = []): () => CpuShare {
  const t0 = performance.now();
  const s0 = cpuSecondsOf(pid);
  const h0 = sumCpu(helperPids);
  const d0 = database ? sumCpu(postgresBackends(database)) : new Map<number, number>();
  const m0 = machineBusySeconds();
  const c0 = process.cpuUsage();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const server = (cpuSecondsOf(pid) - s0) / wall;
    let helperSeconds = 0;
    for (const [p, now] of sumCpu(helperPids)) helperSeconds += now - (h0.get(p) ?? 0);
    const helpers = helperSeconds / wall;
    const client = (c.user + c.system) / 1e6 / wall + helpers;
    let dbSeconds = 0;
    if (database) for (const [p, now] of sumCpu(postgresBackends(database))) dbSeconds += now - (d0.get(p) ?? 0);
    const db = dbSeconds / wall;
    const machine = (machineBusySeconds() - m0) / wall;
    return { server, client, ...(helperPids.length ? { helpers } : {}), db, rest: Math.max(0, machine - server - client - db) };
  };
}
