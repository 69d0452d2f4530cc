// Group commit of the commands that create one node (CreateDirectory, WriteFile of a new file):
// those that wait at the same moment share one transaction, one statement and one WAL flush
// (docs/decisions/008). Per batch: the intents appended (one write for all, durable on return) while
// one statement inserts the node rows, snapshots, rollup rows and deltas, the completed entries and the
// events; then the disk steps, with one sync per parent directory; then one COMMIT.
// A command the statement could not take, or every command of a batch whose disk step or statements
// failed before the commit, runs again on its own path (which answers refusals precisely): one
// refused command never fails its batch-mates.
import type { DiskStep } from '../backends/backend.js';
import { insertCommandsWithNodes, type NodeCreation } from '../db/command-batch-repo.js';
import type { IdentifiedEntry } from '../db/journal-repo.js';
import type { NodeRecord } from '../db/records.js';
import type { EventType } from '../events/types.js';
import { Batcher, type Outcomes } from './batcher.js';
import { crashPoint, groupGatherMs, transactionDelay } from './crash-points.js';
import type { BackendEntry, Services } from './services.js';

export interface Creation {
  entry: IdentifiedEntry;
  backend: BackendEntry;
  node: Omit<NodeCreation, 'entry'>;
  /** The disk step: makes the node visible on the backend; durable once the batch synced its parents. */
  publish(step: DiskStep): Promise<void>;
  /** Undoes publish when the batch rolls back. */
  unpublish(): Promise<void>;
  /** Set once its intent is durable: the command's own path must not append it again. */
  intentWritten: boolean;
}

/** Committed with the batch, or null: nothing of the command was kept, run it on its own. */
export type Grouped = { node: NodeRecord; cursor: bigint } | null;

const MAX_BATCH = 64;
// A creation's events, as the command alone would write them: filestore.node.created, then
// filestore.command.completed (change-events.ts); the batch statement writes both per command.
const CREATED: EventType = 'filestore.node.created';
const COMPLETED: EventType = 'filestore.command.completed';
// One batch at a time: a second one in flight made both slower (their syncs and statements compete
// on two cores) and halved the batch size; measured in bench/README.md.
const MAX_IN_FLIGHT = 1;

const batchers = new WeakMap<Services, Batcher<Creation, Grouped>>();

export function submitCreation(svc: Services, c: Creation): Promise<Grouped> {
  let b = batchers.get(svc);
  if (!b) batchers.set(svc, (b = new Batcher((items) => runGroup(svc, items), { maxBatch: MAX_BATCH, maxInFlight: MAX_IN_FLIGHT, gatherMs: groupGatherMs() })));
  return b.submit(c);
}

class Unpublished extends Error {}

async function runGroup(svc: Services, members: Creation[]): Promise<Outcomes<Grouped>> {
  const intents = Promise.all(
    members.map(async (m) => {
      await m.backend.backend.writeIntent(m.entry.id, JSON.stringify(m.entry));
      m.intentWritten = true;
    }),
  );
  let made: (NodeRecord | null)[] = members.map(() => null);
  const published: Creation[] = [];
  let committing = false;
  try {
    const cursor = await svc.db.transaction(async (tx) => {
      const batch = members.map((m) => ({ entry: m.entry, ...m.node }));
      const [written] = await Promise.all([insertCommandsWithNodes(tx, batch, { created: CREATED, completed: COMPLETED }), intents]);
      made = written.nodes;
      const chosen = members.filter((_, i) => made[i]);
      if (chosen.length === 0) return null;
      crashPoint('command:after-intent');
      try {
        await publishAll(chosen, published);
      } catch (err) {
        // Taken back while this transaction's rows still hold the paths: once it has rolled back, a
        // command elsewhere may make the same path its own, and the undo would destroy its result.
        await undo(published.splice(0));
        throw err;
      }
      await transactionDelay();
      crashPoint('group:before-commit');
      committing = true;
      return written.lastCursor;
    });
    return members.map((_, i) => ({ ok: true, value: made[i] && cursor !== null ? { node: made[i], cursor } : null }));
  } catch (err) {
    if (committing) {
      // The COMMIT's outcome is unknown: the commands in it resolve their intents (journalled.ts).
      return members.map((_, i) => (made[i] ? { ok: false, error: err } : { ok: true, value: null }));
    }
    await intents.catch(() => {});
    return members.map(() => ({ ok: true, value: null }));
  }
}

/**
 * Every disk step, side by side, then one sync per parent directory for all of them; throws (after
 * all have settled) if one failed.
 */
async function publishAll(members: Creation[], published: Creation[]): Promise<void> {
  const results = await Promise.allSettled(
    members.map(async (m) => {
      await m.publish({ deferSync: true });
      published.push(m);
    }),
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw new Unpublished('a disk step of the batch failed', { cause: (failed as PromiseRejectedResult).reason });
  const byBackend = new Map<BackendEntry, string[]>();
  for (const m of members) byBackend.set(m.backend, [...(byBackend.get(m.backend) ?? []), m.entry.path]);
  await Promise.all([...byBackend].map(([b, paths]) => b.backend.syncParents(paths)));
}

/** The batch rolled back: its disk steps are taken back, so that each command can run again on its own. */
async function undo(published: Creation[]): Promise<void> {
  for (const [i, m] of [...published].reverse().entries()) {
    // A step that cannot be undone is left as it is: the command's own run (or its recovery) adopts it.
    await m.unpublish().catch(() => {});
    if (i === 0) crashPoint('group:during-rollback');
  }
}
