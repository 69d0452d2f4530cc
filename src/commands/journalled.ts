// Runs a mutating command under the journal in one transaction: idempotency arbitrated by the entry's
// insert, an intent on the backend before any I/O, one commit; a FAILED entry (with the error) when
// the command is refused (docs/decisions/006).
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Executor } from '../db/database.js';
import * as journal from '../db/journal-repo.js';
import type { IdentifiedEntry } from '../db/journal-repo.js';
import * as nodesRepo from '../db/nodes-repo.js';
import { nodeFromJson, type Json, type JournalRecord, type NodeRecord } from '../db/records.js';
import { databaseErrorToDomain, isLockTimeout } from '../db/db-errors.js';
import { aborted, failedPrecondition, invalidArgument, isFilestoreError, unavailable } from '../errors/domain-error.js';
import { commandEvents, type NewEvent } from '../events/change-events.js';
import { crashPoint, transactionDelay } from './crash-points.js';
import { submitCreation, type Creation } from './group-commit.js';
import type { Actor, Services } from './services.js';
import type { SettleOne, SettleOutcome } from './stuck-intents.js';

export interface CommandSpec {
  command: string;
  actor: Actor;
  idempotencyKey: string;
  backendId: number;
  path: string;
  targetBackendId?: number;
  targetPath?: string;
  nodeId?: number;
  /** The request's meaning: hashed to recognise a retry, shown in the journal. */
  params: Json;
  /** What crash recovery needs to resolve the command. */
  plan?: Json;
}

export interface CommandResult {
  node: NodeRecord;
  journalId: number;
  idempotentReplay: boolean;
}

/**
 * Called by a command inside its transaction, after its metadata changes: completes the entry and
 * writes its events (`changes`, then filestore.command.completed) atomically with them.
 */
export type Succeed = (tx: Executor, node: NodeRecord, changes: NewEvent[]) => Promise<void>;

/**
 * The command's transaction: it first inserts the command's entry and writes its intent; crash recovery
 * resolves an intent only once that transaction is over (its claim waits on the entry's id).
 */
export type CommandTransaction = <T>(fn: (tx: Executor) => Promise<T>) => Promise<T>;

/**
 * Resolves a PENDING entry inside the transaction that holds it, from what the backend shows: rolled
 * forward or back. May return work for after the commit (removing what is now garbage).
 */
export type Recoverer = (tx: Executor, entry: JournalRecord) => Promise<void | (() => Promise<void>)>;

export interface CommandBody {
  run(journalId: number, succeed: Succeed, transaction: CommandTransaction): Promise<NodeRecord>;
  /** Undo what staging or I/O left behind when the command ends without effect. */
  discard?(): Promise<void>;
  /** Called when an unexpected error left the entry PENDING: resolve it like crash recovery would. */
  recover?: Recoverer;
  /**
   * The command as the creation of one node, which can share a group commit with others
   * (group-commit.ts); `run` is its own path, taken when the group could not take it.
   */
  creation?: Omit<Creation, 'entry' | 'intentWritten'>;
}

const MAX_KEY_LENGTH = 256;
const WAIT_FOR_TWIN_MS = 120_000;

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const keys = Object.keys(value).filter((k) => (value as Json)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Json)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function hashParams(command: string, params: Json): string {
  return createHash('sha256').update(command).update('\0').update(canonicalJson(params)).digest('hex');
}

function replayOf(entry: JournalRecord): CommandResult {
  return { node: nodeFromJson((entry.result as { node: Json }).node), journalId: entry.id, idempotentReplay: true };
}

type TwinSpec = Pick<CommandSpec, 'command' | 'actor' | 'idempotencyKey' | 'backendId'>;

async function settledTwin(svc: Services, spec: TwinSpec, hash: string): Promise<CommandResult | null> {
  const deadline = Date.now() + WAIT_FOR_TWIN_MS;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const twin = await journal.findByIdempotencyKey(svc.db, spec.backendId, spec.actor.principal, spec.idempotencyKey);
    if (!twin) return null; // it failed and released the key: run again
    if (twin.paramsHash !== hash || twin.command !== spec.command) throw keyReused(spec.idempotencyKey, twin.id);
    if (twin.status === 'SUCCEEDED') return replayOf(twin);
    if (Date.now() > deadline) {
      throw aborted('IDEMPOTENT_COMMAND_IN_PROGRESS', `the command with this idempotency key (journal entry ${twin.id}) is still running; retry later`);
    }
    await sleep(delay);
  }
}

/**
 * A retry of a command that names its node by node_id is answered from the journal before the node is
 * resolved again: once the command ran, the node may be elsewhere or deleted, and resolving it would
 * refuse the retry. `params(backendId)` must be the params the command journals (node_id, not the path).
 * Null when the key has no active entry, so the command runs.
 */
export async function replayByNodeId(
  svc: Services,
  actor: Actor,
  command: string,
  req: { nodeId?: number; idempotencyKey: string },
  params: (backendId: number) => Json,
): Promise<CommandResult | null> {
  if (!req.nodeId || req.nodeId < 0 || !req.idempotencyKey) return null;
  const node = await nodesRepo.findById(svc.db, req.nodeId);
  if (!node) return null;
  const spec = { command, actor, idempotencyKey: req.idempotencyKey, backendId: node.backendId };
  return settledTwin(svc, spec, hashParams(command, params(node.backendId)));
}

function keyReused(key: string, journalId: number) {
  return failedPrecondition(
    'IDEMPOTENCY_KEY_REUSED',
    `idempotency key "${key}" was used for a different request (journal entry ${journalId}); use a new key`,
    { journal_id: String(journalId) },
  );
}

async function refuseKeyUsedElsewhere(svc: Services, spec: CommandSpec): Promise<void> {
  const other = await journal.findKeyOnOtherBackend(svc.db, spec.backendId, spec.actor.principal, spec.idempotencyKey);
  if (other) throw keyReused(spec.idempotencyKey, other.id);
}

export async function runJournalled(svc: Services, spec: CommandSpec, body: CommandBody): Promise<CommandResult> {
  if (spec.idempotencyKey.length > MAX_KEY_LENGTH) {
    throw invalidArgument('IDEMPOTENCY_KEY_INVALID', `idempotency_key is longer than ${MAX_KEY_LENGTH} characters`);
  }
  const hash = hashParams(spec.command, spec.params);
  let entry: IdentifiedEntry;
  try {
    await settleStuckIntents(svc);
    if (spec.idempotencyKey) await refuseKeyUsedElsewhere(svc, spec);
    entry = {
      id: await svc.journalIds.next(),
      backendId: spec.backendId,
      command: spec.command,
      principal: spec.actor.principal,
      idempotencyKey: spec.idempotencyKey || null,
      paramsHash: hash,
      params: spec.params,
      plan: spec.plan ?? {},
      path: spec.path,
      targetBackendId: spec.targetBackendId ?? null,
      targetPath: spec.targetPath ?? null,
      nodeId: spec.nodeId ?? null,
      instanceId: svc.instanceId,
    };
  } catch (err) {
    await body.discard?.();
    throw err;
  }

  svc.inFlight.add(entry.id);
  try {
    for (let grouped = !!body.creation; ; grouped = false) {
      const outcome = await attempt(svc, spec, body, entry, grouped);
      if (outcome !== KEY_HELD) return outcome;
      // An active entry holds the key: answer as it did, or run again if it failed meanwhile.
      const replay = await settledTwin(svc, spec, hash).catch(async (err) => {
        await body.discard?.();
        throw err;
      });
      if (replay) {
        await body.discard?.();
        return replay;
      }
    }
  } finally {
    svc.inFlight.delete(entry.id);
  }
}

/**
 * This process's intents left unresolved by a database outage, resolved before the next command runs
 * (`now`: without the pause after a failed attempt).
 */
export function settleStuckIntents(svc: Services, now = false): Promise<SettleOutcome[]> {
  const settleOne: SettleOne<Recoverer> = ({ entry, recover }) => resolveIntent(svc, entry, recover);
  const running = (id: number) => svc.inFlight.has(id);
  return now ? svc.stuckIntents.settle(settleOne, running) : svc.stuckIntents.beforeCommand(settleOne, running);
}

const KEY_HELD = Symbol('key held');

class KeyHeld extends Error {}

/**
 * One run of the command in one transaction: its entry inserted PENDING first (the insert arbitrates
 * the idempotency key), its intent written before any disk step, its outcome and events written at the
 * end, one commit (docs/decisions/006).
 */
async function attempt(
  svc: Services,
  spec: CommandSpec,
  body: CommandBody,
  entry: IdentifiedEntry,
  grouped: boolean,
): Promise<CommandResult | typeof KEY_HELD> {
  const { backend } = svc.backends.get(spec.backendId);
  let lastCursor: bigint | null = null;
  let intentWritten = false;
  const succeed: Succeed = async (tx, node, changes) => {
    lastCursor = await journal.markSucceeded(tx, entry, node, commandEvents(node, changes));
    await transactionDelay();
  };
  const transaction: CommandTransaction = (fn) =>
    svc.db.transaction(async (tx) => {
      if (!(await journal.insertPending(tx, entry))) throw new KeyHeld();
      if (!intentWritten) await backend.writeIntent(entry.id, JSON.stringify(entry));
      intentWritten = true;
      crashPoint('command:after-intent');
      return fn(tx);
    });
  const inGroup = async (): Promise<NodeRecord | null> => {
    if (!grouped || !body.creation) return null;
    const creation: Creation = { ...body.creation, entry, intentWritten: false };
    try {
      const done = await submitCreation(svc, creation);
      if (done) lastCursor = done.cursor;
      return done?.node ?? null;
    } finally {
      intentWritten ||= creation.intentWritten;
    }
  };
  try {
    const node = (await inGroup()) ?? (await body.run(entry.id, succeed, transaction));
    crashPoint('command:after-commit');
    if (lastCursor !== null) svc.commits.committed(lastCursor);
    notifyRollups(svc, spec);
    await backend.intentDone(entry.id).catch(() => {});
    return { node, journalId: entry.id, idempotentReplay: false };
  } catch (err) {
    if (err instanceof KeyHeld) {
      // Its transaction rolled back before any disk step: an intent a group commit wrote for it is done.
      if (intentWritten) await backend.intentDone(entry.id).catch(() => {});
      return KEY_HELD;
    }
    if (isFilestoreError(err) && err.code !== 'UNAVAILABLE' && err.code !== 'INTERNAL') {
      // Refused by a precondition before any I/O became visible; the transaction rolled back. Record
      // why, then drop what was staged (a crash in between: the intent resolves it, as rolled back).
      await journal.insertFailed(svc.db, entry, err.toJSON()).catch(() => {});
      crashPoint('refused:after-fail');
      await body.discard?.();
      if (intentWritten) await backend.intentDone(entry.id).catch(() => {});
      throw err;
    }
    // Unexpected, or a database failure: the disk step and even the commit may or may not have
    // happened. Resolve the intent as crash recovery would; if that rolled the command forward (or it
    // had committed after all), it succeeded.
    let resolved: JournalRecord | null = null;
    if (intentWritten) {
      resolved = (await resolveIntent(svc, entry, body.recover ?? rollBack).catch(() => null))?.entry ?? null;
      // Still unresolved (the database is away): the recovery sweep takes it (src/commands/recovery.ts).
      if (!resolved || resolved.status === 'PENDING') svc.stuckIntents.add(entry, body.recover ?? rollBack);
    }
    if (resolved?.status === 'SUCCEEDED') {
      svc.commits.committed(0n); // recovery wrote its events: wake the hub
      notifyRollups(svc, spec);
      return { ...replayOf(resolved), idempotentReplay: false };
    }
    if (!intentWritten) await body.discard?.();
    throw databaseErrorToDomain(err) ?? err;
  }
}

function notifyRollups(svc: Services, spec: CommandSpec): void {
  svc.rollups.changed(spec.backendId);
  if (spec.targetBackendId && spec.targetBackendId !== spec.backendId) svc.rollups.changed(spec.targetBackendId);
}

/** Recovery's way to complete an entry it rolled forward: the same result and events as the command's own. */
export async function succeedRecovered(tx: Executor, e: JournalRecord, node: NodeRecord, changes: NewEvent[]): Promise<void> {
  await journal.markSucceeded(tx, { backendId: e.backendId, id: e.id, command: e.command, principal: e.principal }, node, commandEvents(node, changes));
}

/**
 * For a command whose transaction spends long without a statement (a recursive copy into staging)
 * before its atomic step: proves, just before that step, that its transaction is still alive (a lost
 * connection aborts it, and crash recovery may then resolve its intent).
 */
export async function requireHeld(tx: Executor, backendId: number, id: number): Promise<void> {
  if (!(await journal.holdPending(tx, backendId, id))) throw abandoned(id);
}

function abandoned(id: number) {
  return unavailable(
    'LEASE_LOST',
    `journal entry ${id} was resolved by crash recovery while this command ran (its process had lost its database connection); retry`,
  );
}

export const rollBack: Recoverer = async (tx, e) => journal.markEnded(tx, e.backendId, e.id, 'ROLLED_BACK', null);

/** Staging keys journalled before keys named their owner ("<owner>/<name>") belong to the entry's process. */
function qualifyStagingKeys(e: JournalRecord): JournalRecord {
  const plan = { ...e.plan };
  for (const k of ['staging_key', 'trash_key']) {
    const key = plan[k];
    if (typeof key === 'string' && !key.includes('/')) plan[k] = `${e.instanceId}/${key}`;
  }
  return { ...e, plan };
}

/**
 * Resolves entry `id` if it is still PENDING and no command holds it: locks it, lets `recover` decide
 * from the backend, commits, then runs what `recover` left for after the commit. False if skipped.
 */
export async function resolvePending(svc: Services, backendId: number, id: number, recover: Recoverer): Promise<boolean> {
  const after: { run?: () => Promise<void> } = {};
  const resolved = await svc.db.transaction(async (tx) => {
    const entry = await journal.lockPending(tx, backendId, id);
    if (!entry) return false;
    after.run = (await recover(tx, qualifyStagingKeys(entry))) ?? undefined;
    return true;
  });
  await after.run?.().catch(() => {}); // garbage only: the staging sweep removes what is left
  return resolved;
}

/**
 * Resolves the intent of a command whose transaction did not commit (or may not have): claims its
 * entry, lets `recover` decide from the backend, commits, then removes the intent. Waits while the
 * command's own transaction still runs. `claimed`: this call resolved it (else it had committed, or was
 * resolved before).
 */
export async function resolveIntent(svc: Services, e: IdentifiedEntry, recover: Recoverer): Promise<{ entry: JournalRecord | null; claimed: boolean }> {
  const after: { run?: () => Promise<void> } = {};
  let claimed: boolean;
  try {
    claimed = await svc.db.transaction(async (tx) => {
      const entry = await journal.claimForRecovery(tx, e);
      if (entry) after.run = (await recover(tx, qualifyStagingKeys(entry))) ?? undefined;
      return entry !== null;
    });
  } catch (err) {
    if (isLockTimeout(err)) return { entry: null, claimed: false }; // its transaction still runs
    throw err;
  }
  await after.run?.().catch(() => {}); // garbage only: the staging sweep removes what is left
  const entry = await journal.getEntry(svc.db, e.id, e.backendId);
  if (entry && entry.status !== 'PENDING' && e.instanceId === svc.instanceId) await svc.backends.get(e.backendId).backend.intentDone(e.id);
  return { entry, claimed };
}
