// Cleanup that runs however the bench ends: normally, on an error, or on SIGINT/SIGTERM.
// Tasks run last-registered first. Child processes registered with `onExitKill` are also
// SIGKILLed synchronously if the process exits without running the async cleanup.
import type { ChildProcess } from 'node:child_process';

type Task = { label: string; run: () => Promise<void> };

const tasks: Task[] = [];
const children = new Set<ChildProcess>();
let running: Promise<void> | null = null;
let interrupted = false;

/** True once SIGINT/SIGTERM started the cleanup: errors after that are its consequence. */
export const wasInterrupted = () => interrupted;

/** Registers an async cleanup step; returns a function that runs it early (and unregisters it). */
export function defer(label: string, run: () => Promise<void>): () => Promise<void> {
  const task: Task = { label, run };
  tasks.push(task);
  return async () => {
    const i = tasks.indexOf(task);
    if (i < 0) return;
    tasks.splice(i, 1);
    await task.run();
  };
}

export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

async function withTimeout(p: Promise<void>, ms: number, label: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cleanup step "${label}" took over ${ms} ms`)), ms);
  });
  try {
    await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every registered task once (later calls wait for the same run). */
export function cleanupAll(): Promise<void> {
  running ??= (async () => {
    while (tasks.length) {
      const task = tasks.pop()!;
      try {
        await withTimeout(task.run(), 20_000, task.label);
      } catch (err) {
        process.stderr.write(`bench cleanup: ${task.label}: ${(err as Error).message}\n`);
      }
    }
  })();
  return running;
}

export function installSignalHandlers(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true;
      process.stderr.write(`\nbench: ${signal}, cleaning up…\n`);
      cleanupAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  process.on('exit', () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}
