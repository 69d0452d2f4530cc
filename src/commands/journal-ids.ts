// Journal ids handed out before a command's transaction, so that its intent can name its entry
// (docs/decisions/006). Taken from the sequence in blocks: one round trip serves many commands.
import type { Executor } from '../db/database.js';
import { allocateIds } from '../db/journal-repo.js';

export class JournalIds {
  private readonly free: number[] = [];
  private refill: Promise<void> | null = null;

  constructor(
    private readonly db: Executor,
    private readonly block = 64,
  ) {}

  async next(): Promise<number> {
    while (this.free.length === 0) {
      this.refill ??= allocateIds(this.db, this.block)
        .then((ids) => void this.free.push(...ids))
        .finally(() => (this.refill = null));
      await this.refill;
    }
    return this.free.shift()!;
  }
}
