// Who a process is, in terms that survive the reuse of its pid: on Linux, the pid and its start time
// (clock ticks after boot, /proc/<pid>/stat) within one boot of one host and one pid namespace.
// Elsewhere only the pid, so a reused pid reads as alive: the safe side for a lock.
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessIdentity {
  pid: number;
  host: string;
  /** null where the kernel does not say (not Linux). */
  bootId: string | null;
  pidNamespace: string | null;
  startTime: string | null;
}

export type Verdict =
  | { state: 'alive' }
  | { state: 'dead'; why: string }
  /** Another host or pid namespace: nothing here can tell whether it runs. */
  | { state: 'unknowable'; why: string };

function readOrNull(read: () => string): string | null {
  try {
    return read().trim();
  } catch {
    return null;
  }
}

interface ProcStat {
  state: string;
  startTime: string;
}

/** null: /proc does not tell (not Linux; the process exited; hidepid hides another user's). */
function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: count the fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], startTime: fields[19] };
}

export function identityOf(pid: number): ProcessIdentity {
  return {
    pid,
    host: hostname(),
    bootId: readOrNull(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    pidNamespace: readOrNull(() => readlinkSync(`/proc/${pid}/ns/pid`)),
    startTime: procStat(pid)?.startTime ?? null,
  };
}

export function thisProcess(): ProcessIdentity {
  return identityOf(process.pid);
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // someone else's process, but there
  }
}

/** Whether the process `other` names still runs, judged from this process. */
export function judge(other: ProcessIdentity, me: ProcessIdentity = thisProcess()): Verdict {
  if (other.host !== me.host) return { state: 'unknowable', why: `it runs on host ${other.host} and this is ${me.host}` };
  if (other.bootId && me.bootId && other.bootId !== me.bootId) return { state: 'dead', why: 'the host has restarted since' };
  if (other.pidNamespace !== me.pidNamespace) {
    return { state: 'unknowable', why: `it runs in another pid namespace (${other.pidNamespace ?? 'unknown'}, this is ${me.pidNamespace ?? 'unknown'}): another container?` };
  }
  if (!pidExists(other.pid)) return { state: 'dead', why: `pid ${other.pid} has exited` };
  const stat = procStat(other.pid);
  if (!stat && !pidExists(other.pid)) return { state: 'dead', why: `pid ${other.pid} has exited` };
  if (!stat || other.startTime === null) return { state: 'alive' };
  if (stat.state === 'Z' || stat.state === 'X') return { state: 'dead', why: `pid ${other.pid} has exited (not yet reaped)` };
  if (stat.startTime !== other.startTime) return { state: 'dead', why: `pid ${other.pid} is now another process` };
  return { state: 'alive' };
}
