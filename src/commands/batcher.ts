// Groups concurrent requests into batches: a request that arrives while a slot is free starts a batch
// at once (a lone client waits for nothing); those that arrive while every slot is busy wait and go
// together in the next batch, up to `maxBatch`. Each request gets its own outcome.

export interface BatcherOptions {
  maxBatch: number;
  /** Batches running at the same time. */
  maxInFlight: number;
  /** How long the first request of a batch waits for others (tests); 0 by default. */
  gatherMs?: number;
}

interface Waiting<I, O> {
  item: I;
  resolve(v: O): void;
  reject(err: unknown): void;
}

/** One outcome per item, in the order given: a value or an error. */
export type Outcomes<O> = ({ ok: true; value: O } | { ok: false; error: unknown })[];

export class Batcher<I, O> {
  private readonly queue: Waiting<I, O>[] = [];
  private running = 0;

  constructor(
    private readonly runBatch: (items: I[]) => Promise<Outcomes<O>>,
    private readonly options: BatcherOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.next();
    });
  }

  private next(): void {
    if (this.running >= this.options.maxInFlight || this.queue.length === 0) return;
    this.running++;
    const start = this.options.gatherMs ? new Promise((r) => setTimeout(r, this.options.gatherMs)) : Promise.resolve();
    void start.then(() => this.run(this.queue.splice(0, this.options.maxBatch)));
  }

  private async run(batch: Waiting<I, O>[]): Promise<void> {
    try {
      if (batch.length === 0) return;
      const outcomes = await this.runBatch(batch.map((w) => w.item)).catch((error: unknown) => batch.map(() => ({ ok: false as const, error })));
      batch.forEach((w, i) => {
        const o = outcomes[i];
        if (o.ok) w.resolve(o.value);
        else w.reject(o.error);
      });
    } finally {
      this.running--;
      this.next();
    }
  }
}
