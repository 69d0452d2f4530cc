// Fault injection for tests. Crashes: with FILESTORE_CRASH_AT=<point> the process SIGKILLs itself
// when it reaches that point (a real kill at a chosen instant). A no-op otherwise.
// Points: mkdir:after-mkdir, write:before-publish, write:after-publish, copy:after-stage,
// copy:after-publish, move:after-rename, delete:after-unpublish, and refused:after-discard (a command
// refused after its entry was written: its staging undone, the entry not yet marked FAILED), and
// rollup:fold-mid-batch (a rollup worker after the first level of a fold batch, before it commits);
// command:after-intent (any command, its entry inserted and intent written, before its disk step) and
// command:after-commit (committed, its intent not yet marked done); under group commit (group-commit.ts)
// group:before-commit (every disk step of a batch done, not committed) and group:during-rollback (a
// batch rolling back after a disk step failed, its first step taken back); on an S3 backend,
// s3:tree-mid-copy (a tree's copy, one batch of objects copied) and s3:tree-mid-delete (half of a
// tree's objects deleted).
const armed = process.env.FILESTORE_CRASH_AT ?? '';

export function crashPoint(name: string): void {
  if (armed && armed === name) process.kill(process.pid, 'SIGKILL');
}

// With FILESTORE_TEST_TX_DELAY_MS=<max>, a command's transaction waits a random 0..max ms after
// writing its events and before committing, so that tests see transactions commit out of id order.
const maxDelay = Number(process.env.FILESTORE_TEST_TX_DELAY_MS ?? 0);

export async function transactionDelay(): Promise<void> {
  if (maxDelay > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * maxDelay));
}

// With FILESTORE_TEST_GROUP_GATHER_MS=<ms>, the first command of a group commit waits that long for
// others, so that tests can put several commands in one batch.
export function groupGatherMs(): number {
  return Number(process.env.FILESTORE_TEST_GROUP_GATHER_MS ?? 0);
}
