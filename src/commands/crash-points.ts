// Fault injection for crash tests: with FILESTORE_CRASH_AT=<point> the process SIGKILLs itself
// when it reaches that point (a real kill at a chosen instant). A no-op otherwise.
// Points: mkdir:after-mkdir, write:before-publish, write:after-publish, copy:after-stage,
// copy:after-publish, move:after-rename, delete:after-unpublish, and refused:after-discard (a command
// refused after its entry was written: its staging undone, the entry not yet marked FAILED).
const armed = process.env.FILESTORE_CRASH_AT ?? '';

export function crashPoint(name: string): void {
  if (armed && armed === name) process.kill(process.pid, 'SIGKILL');
}
