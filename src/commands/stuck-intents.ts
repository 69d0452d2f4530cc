// Intents of this process's commands that failed in a way that left their outcome unknown (the
// database went away mid-command) and could not be resolved at once. They are resolved before the
// next command runs, so no command sees the disk ahead of (or behind) the metadata such an intent
// describes; the recovery sweep retries them too (docs/decisions/006).
import type { IdentifiedEntry } from '../db/journal-repo.js';
import type { JournalRecord } from '../db/records.js';

/** Resolves one intent: the entry as it is now, and whether this call resolved it. */
export type SettleOne<R> = (intent: { entry: IdentifiedEntry; recover: R }) => Promise<{ entry: JournalRecord | null; claimed: boolean }>;

export interface SettleOutcome {
  entry: IdentifiedEntry;
  /** The entry once resolved (SUCCEEDED, ROLLED_BACK…); null when it could not be. */
  now: JournalRecord | null;
  claimed: boolean;
  error?: Error;
}

/** After an attempt that left intents unresolved, commands run without waiting for this long. */
const RETRY_AFTER_MS = 500;

export class StuckIntents<R> {
  private readonly byId = new Map<number, { entry: IdentifiedEntry; recover: R }>();
  private settling: Promise<SettleOutcome[]> | null = null;
  private failedAt = -Infinity;

  get size(): number {
    return this.byId.size;
  }

  add(entry: IdentifiedEntry, recover: R): void {
    this.byId.set(entry.id, { entry, recover });
  }

  entries(): IdentifiedEntry[] {
    return [...this.byId.values()].map((s) => s.entry);
  }

  /**
   * Resolves every stuck intent (but `skip`'s), one attempt at a time: concurrent callers share it.
   * Never throws; an intent that could not be resolved stays.
   */
  settle(settleOne: SettleOne<R>, skip: (id: number) => boolean = () => false): Promise<SettleOutcome[]> {
    this.settling ??= (async () => {
      // Side by side: each may wait up to its claim's lock timeout.
      const outcomes = await Promise.all(
        [...this.byId].filter(([id]) => !skip(id)).map(async ([id, intent]): Promise<SettleOutcome> => {
          try {
            const { entry: now, claimed } = await settleOne(intent);
            const resolved = !!now && now.status !== 'PENDING';
            if (resolved) this.byId.delete(id);
            return { entry: intent.entry, now: resolved ? now : null, claimed };
          } catch (err) {
            return { entry: intent.entry, now: null, claimed: false, error: err as Error };
          }
        }),
      );
      if (outcomes.some((o) => !o.now)) this.failedAt = performance.now();
      return outcomes;
    })().finally(() => (this.settling = null));
    return this.settling;
  }

  /**
   * Before a command: resolve what is stuck, unless an attempt just failed (the database still away,
   * or a claim timed out): then commands go on without waiting for a while.
   */
  async beforeCommand(settleOne: SettleOne<R>, skip: (id: number) => boolean): Promise<SettleOutcome[]> {
    if (this.byId.size === 0) return [];
    if (!this.settling && performance.now() - this.failedAt < RETRY_AFTER_MS) return [];
    return this.settle(settleOne, skip);
  }
}
