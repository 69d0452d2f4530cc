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
import { resolveIntent, resolvePending, rollBack, settleStuckIntents, type Recoverer } from './journalled.js';
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
  const dead = await deadOwners(svc, lease, judging);
  const unsettled = await resolveIntents(svc, dead, recoverer, report);
  report.stagingRemoved = await sweepStaging(svc, dead, opts.startup, unsettled);
  if (judging && lease.canJudge()) {
    await instances.deleteDeadInstances(lease.executor, svc.instanceId, lease.exclusive, DEAD_ROW_AGE_MS, await ownersWithLeftovers(svc));
  }
  return report;
}

/**
 * Per backend, the owners of intents or staging areas (listed before liveness is read: an owner makes
 * its areas only after it took its lock) that are dead; empty when this process cannot judge.
 */
async function deadOwners(svc: Services, lease: Lease, judging: boolean): Promise<OwnerSurvey> {
  const out: OwnerSurvey = new Map();
  for (const { id, backend } of svc.backends.list()) {
    const staged = new Set(await backend.stagingOwners());
    const owners = [...new Set([...(await backend.intentOwners()), ...staged])];
    const others = owners.filter((o) => o !== svc.instanceId);
    const dead = judging && lease.canJudge() ? await instances.deadOwners(lease.executor, others, svc.instanceId, lease.exclusive) : new Set<string>();
    out.set(id, { owners, staged, dead });
  }
  return out;
}

/** Per backend: the owners of intents or staging, those with staging, and those that are dead. */
type OwnerSurvey = Map<number, { owners: string[]; staged: Set<string>; dead: Set<string> }>;
const NOBODY = { owners: [] as string[], staged: new Set<string>(), dead: new Set<string>() };

/** Owners that still have intents or staging on some backend: their instance rows stay, so they are judged again. */
async function ownersWithLeftovers(svc: Services): Promise<string[]> {
  const owners = new Set<string>();
  for (const { backend } of svc.backends.list()) {
    for (const o of [...(await backend.intentOwners()), ...(await backend.stagingOwners())]) owners.add(o);
  }
  return [...owners];
}

/** What unresolved intents still need: their staging keys (qualified) and, per backend, their owners. */
interface Unsettled {
  stagingKeys: Set<string>;
  owners: Set<string>;
}

/**
 * Intents of commands that are not running: a dead owner's, an earlier run's of this process's id,
 * and this process's own that could not be resolved when their command failed.
 */
async function resolveIntents(
  svc: Services,
  dead: OwnerSurvey,
  recoverer: Recoverer,
  report: RecoveryReport,
): Promise<Unsettled> {
  const unsettled: IdentifiedEntry[] = [];
  for (const o of await settleStuckIntents(svc, true)) {
    if (o.claimed) report.resolved.push({ id: o.entry.id, command: o.entry.command, status: o.now?.status ?? 'UNKNOWN', owner: o.entry.instanceId });
    if (!o.now) report.unresolved.push({ id: o.entry.id, command: o.entry.command, error: o.error?.message ?? 'still PENDING' });
  }
  unsettled.push(...svc.stuckIntents.entries());
  const owners = new Set<string>();
  for (const { id: backendId, backend } of svc.backends.list()) {
    const { owners: listed, dead: gone } = dead.get(backendId) ?? NOBODY;
    for (const owner of listed) {
      // This process's own: what an earlier run with its id left, and segments a recovery claimed
      // while taking it for dead (its current segments are not listed).
      const mine = owner === svc.instanceId;
      if (!mine && !gone.has(owner)) continue;
      const read = await backend.listIntents(owner);
      const intents: IdentifiedEntry[] = [];
      let unreadable = read.unreadable;
      for (const { id, body } of read.intents) {
        const entry = parseIntent(body);
        if (entry && entry.id === id && entry.instanceId === owner) intents.push(entry);
        else unreadable++;
      }
      // Most intents belong to commands that committed: one query finds them.
      const committed = await journal.existingIds(svc.db, intents.map((e) => ({ backendId: e.backendId, id: e.id })));
      let settled = unreadable === 0;
      for (const entry of intents.filter((e) => !committed.has(e.id))) {
        if ((mine && svc.inFlight.has(entry.id)) || !(await settleIntent(svc, entry, recoverer, report))) {
          settled = false;
          unsettled.push(entry);
        }
      }
      if (!settled) owners.add(owner);
      else if (!mine || read.segments.length) await backend.removeIntents(owner, read).catch(() => {});
      if (unreadable) report.unresolved.push({ id: 0, command: '?', error: `${unreadable} intents of ${owner} cannot be read or name another entry or owner` });
    }
  }
  return { stagingKeys: stagingKeysOf(unsettled), owners };
}

function parseIntent(body: string): IdentifiedEntry | null {
  try {
    return JSON.parse(body) as IdentifiedEntry;
  } catch {
    return null;
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

/**
 * Removes what dead owners left in staging (and, at start, this process's own leftovers), but what
 * PENDING entries and unresolved intents still need.
 */
async function sweepStaging(svc: Services, dead: OwnerSurvey, startup: boolean, unsettled: Unsettled): Promise<number> {
  const keep = stagingKeysOf(await journal.pendingPlans(svc.db));
  for (const key of unsettled.stagingKeys) keep.add(key);
  let removed = 0;
  for (const { id: backendId, backend } of svc.backends.list()) {
    const { staged, dead: gone } = dead.get(backendId) ?? NOBODY;
    for (const owner of staged) {
      const mine = owner === svc.instanceId;
      if (mine ? !startup : !gone.has(owner)) continue;
      for (const key of await backend.listStaging(owner)) {
        if (keep.has(key)) continue;
        // One object that cannot go (permissions, a busy NFS file) must not stop the sweep.
        if (await backend.discard(key).then(() => true, () => false)) removed++;
      }
      if (!mine && !unsettled.owners.has(owner)) await backend.removeStagingArea(owner).catch(() => {});
    }
  }
  return removed;
}
