// Resolves the intents of commands that processes that died left behind (and this process's own stuck
// ones), entries left PENDING, then removes the staging leftovers of dead processes. Runs at start and
// periodically (recovery-loop.ts). Safe against a wrong guess of who is dead: an intent is claimed by
// inserting its entry, which waits for the command's own transaction (docs/decisions/004, 006).
import * as instances from '../db/instances-repo.js';
import * as journal from '../db/journal-repo.js';
import type { Executor } from '../db/database.js';
import type { IdentifiedEntry } from '../db/journal-repo.js';
import type { JournalRecord, Json } from '../db/records.js';
import type { Lease } from '../lease/lease.js';
import { recoverCopyNode } from './copy-node.js';
import { recoverCreateDirectory } from './create-directory.js';
import { recoverDeleteNode } from './delete-node.js';
import { resolveIntent, resolvePending, rollBack, type Recoverer } from './journalled.js';
import { recoverMoveNode } from './move-node.js';
import type { Services } from './services.js';
import { recoverUpdateMetadata } from './update-metadata.js';
import { recoverWriteFile } from './write-file.js';

type CommandRecoverer = (svc: Services, tx: Executor, e: JournalRecord) => Promise<void | (() => Promise<void>)>;

const recoverers: Record<string, CommandRecoverer> = {
  CreateDirectory: recoverCreateDirectory,
  WriteFile: recoverWriteFile,
  MoveNode: recoverMoveNode,
  CopyNode: recoverCopyNode,
  DeleteNode: recoverDeleteNode,
  UpdateNodeMetadata: recoverUpdateMetadata,
};

/** An own entry PENDING this long without a command running for it was left by a failure. */
const OWN_STUCK_AFTER_MS = 5_000;
/** Entries of dead processes resolved per sweep; the next sweep takes the rest. */
const SWEEP_LIMIT = 500;
/** A dead process's row goes this long after it was last seen (a starting process is not yet locked). */
const DEAD_ROW_AGE_MS = 60_000;

export interface RecoveryReport {
  resolved: { id: number; command: string; status: string; owner: string }[];
  /** Entries recovery could not resolve: left PENDING (with their staging) for the next sweep or an operator. */
  unresolved: { id: number; command: string; error: string }[];
  stagingRemoved: number;
}

export interface RecoverOptions {
  /** At start, before serving: every own PENDING entry is stuck, and own staging leftovers are swept. */
  startup: boolean;
}

export async function recover(svc: Services, lease: Lease, opts: RecoverOptions): Promise<RecoveryReport> {
  const report: RecoveryReport = { resolved: [], unresolved: [], stagingRemoved: 0 };
  const judging = lease.canJudge();
  const own = await journal.ownPendingEntries(svc.db, svc.instanceId, opts.startup ? 0 : OWN_STUCK_AFTER_MS);
  const candidates = own.filter((e) => !svc.inFlight.has(e.id));
  const backendIds = svc.backends.list().map((b) => b.id);
  if (judging) candidates.push(...(await journal.deadOwnersEntries(lease.executor, (owner) => lease.alive(owner), backendIds, SWEEP_LIMIT)));

  const recoverer: Recoverer = (tx, e) => (recoverers[e.command] ?? ((_s, t, x) => rollBack(t, x)))(svc, tx, e);
  for (const entry of candidates) {
    // A verdict from before a lost lease is stale: others may be reconnecting (own entries need none).
    if (entry.instanceId !== svc.instanceId && !lease.canJudge()) break;
    try {
      if (!(await resolvePending(svc, entry.backendId, entry.id, recoverer))) continue; // a command holds it
      const after = await journal.getEntry(svc.db, entry.id, entry.backendId);
      report.resolved.push({ id: entry.id, command: entry.command, status: after?.status ?? 'UNKNOWN', owner: entry.instanceId });
    } catch (err) {
      // One entry that cannot be resolved (its backend gone from the configuration, a path now behind
      // a symlink) must not stop the others: it stays PENDING and is reported.
      report.unresolved.push({ id: entry.id, command: entry.command, error: (err as Error).message });
    }
  }
  await resolveIntents(svc, lease, opts.startup, judging, recoverer, report);
  report.stagingRemoved = await sweepStaging(svc, lease, opts.startup, judging);
  if (judging && lease.canJudge()) await instances.deleteDeadInstances(lease.executor, svc.instanceId, lease.exclusive, DEAD_ROW_AGE_MS);
  return report;
}

/**
 * Intents of commands that are not running: a dead owner's, an earlier run's of this process's id (at
 * start), and this process's own that could not be resolved when their command failed.
 */
async function resolveIntents(svc: Services, lease: Lease, startup: boolean, judging: boolean, recoverer: Recoverer, report: RecoveryReport): Promise<void> {
  for (const [id, { entry, recover }] of svc.stuckIntents) {
    if (svc.inFlight.has(id)) continue;
    const ok = await settleIntent(svc, entry, recover, report);
    if (ok) svc.stuckIntents.delete(id);
  }
  for (const { backend } of svc.backends.list()) {
    const owners = await backend.intentOwners();
    const others = owners.filter((o) => o !== svc.instanceId);
    const dead = judging && lease.canJudge() ? await instances.deadOwners(lease.executor, others, svc.instanceId, lease.exclusive) : new Set<string>();
    for (const owner of owners) {
      if (owner === svc.instanceId ? !startup : !dead.has(owner)) continue;
      const intents: IdentifiedEntry[] = [];
      let unreadable = 0;
      for (const { id, body } of await backend.listIntents(owner)) {
        const entry = JSON.parse(body) as IdentifiedEntry;
        if (entry.id === id && entry.instanceId === owner) intents.push(entry);
        else unreadable++;
      }
      // Most intents belong to commands that committed: one query finds them.
      const committed = await journal.existingIds(svc.db, intents.map((e) => ({ backendId: e.backendId, id: e.id })));
      let settled = unreadable === 0;
      for (const entry of intents.filter((e) => !committed.has(e.id))) {
        if (!(await settleIntent(svc, entry, recoverer, report))) settled = false;
      }
      if (settled) await backend.removeIntents(owner).catch(() => {});
      else if (unreadable) report.unresolved.push({ id: 0, command: '?', error: `${unreadable} intents of ${owner} name another entry or owner` });
    }
  }
}

/** Resolves one intent; false (and reported) when it could not be. */
async function settleIntent(svc: Services, entry: IdentifiedEntry, recover: Recoverer, report: RecoveryReport): Promise<boolean> {
  try {
    const { entry: now, claimed } = await resolveIntent(svc, entry, recover);
    if (claimed) report.resolved.push({ id: entry.id, command: entry.command, status: now?.status ?? 'UNKNOWN', owner: entry.instanceId });
    return !!now && now.status !== 'PENDING';
  } catch (err) {
    report.unresolved.push({ id: entry.id, command: entry.command, error: (err as Error).message });
    return false;
  }
}

/** Staging keys that entries still PENDING may need, qualified by their owner. */
function stagingKeysOf(pending: { instanceId: string; plan: Json }[]): Set<string> {
  const keys = new Set<string>();
  for (const { instanceId, plan } of pending) {
    for (const key of [plan.staging_key, plan.trash_key]) {
      if (typeof key === 'string') keys.add(key.includes('/') ? key : `${instanceId}/${key}`);
    }
  }
  return keys;
}

/** Removes what dead owners left in staging (and, at start, this process's own leftovers). */
async function sweepStaging(svc: Services, lease: Lease, startup: boolean, judging: boolean): Promise<number> {
  const keep = stagingKeysOf(await journal.pendingPlans(svc.db));
  let removed = 0;
  for (const { backend } of svc.backends.list()) {
    // Listed before liveness is read: an owner makes its area only after it took its lock.
    const owners = await backend.stagingOwners();
    const others = owners.filter((o) => o !== svc.instanceId);
    const dead = judging && lease.canJudge() ? await instances.deadOwners(lease.executor, others, svc.instanceId, lease.exclusive) : new Set<string>();
    for (const owner of owners) {
      const mine = owner === svc.instanceId;
      if (mine ? !startup : !dead.has(owner)) continue;
      for (const key of await backend.listStaging(owner)) {
        if (keep.has(key)) continue;
        // One object that cannot go (permissions, a busy NFS file) must not stop the sweep.
        if (await backend.discard(key).then(() => true, () => false)) removed++;
      }
      if (!mine) await backend.removeStagingArea(owner).catch(() => {});
    }
  }
  return removed;
}
