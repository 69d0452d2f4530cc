// GetNode's lookups, batched: while one statement is on its way, the lookups that arrive wait and go
// together in the next one (one round trip and one parse of the result for many concurrent reads).
// A lookup that arrives when none is running goes at once, so a lone client waits for nothing.
import type { Executor } from './database.js';
import { findLiveWithRollup, findLiveWithRollups, type LiveWithRollup } from './rollups-repo.js';

const MAX_BATCH = 256;

interface Waiting {
  path: string;
  resolve(v: LiveWithRollup | null): void;
  reject(err: unknown): void;
}

class Lookups {
  private readonly waiting = new Map<number, Waiting[]>();
  private readonly running = new Set<number>();

  constructor(private readonly ex: Executor) {}

  find(backendId: number, path: string): Promise<LiveWithRollup | null> {
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(backendId) ?? [];
      queue.push({ path, resolve, reject });
      this.waiting.set(backendId, queue);
      if (!this.running.has(backendId)) void this.run(backendId);
    });
  }

  private async run(backendId: number): Promise<void> {
    this.running.add(backendId);
    try {
      for (let queue = this.waiting.get(backendId); queue?.length; queue = this.waiting.get(backendId)) {
        const batch = queue.splice(0, MAX_BATCH);
        try {
          // One alone takes the single-path statement: its plan is a plain index lookup.
          const found = batch.length === 1 ? [await findLiveWithRollup(this.ex, backendId, batch[0].path)] : await findLiveWithRollups(this.ex, backendId, batch.map((w) => w.path));
          batch.forEach((w, i) => w.resolve(found[i]));
        } catch (err) {
          batch.forEach((w) => w.reject(err));
        }
      }
    } finally {
      this.waiting.delete(backendId);
      this.running.delete(backendId);
    }
  }
}

const byExecutor = new WeakMap<Executor, Lookups>();

/** The live node at `path` with its rollup (findLiveWithRollups), batched with concurrent lookups on `ex`. */
export function findLiveWithRollupBatched(ex: Executor, backendId: number, path: string): Promise<LiveWithRollup | null> {
  let lookups = byExecutor.get(ex);
  if (!lookups) byExecutor.set(ex, (lookups = new Lookups(ex)));
  return lookups.find(backendId, path);
}
