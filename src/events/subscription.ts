// One subscriber's stream. It catches up from the outbox table up to the hub's position, then goes
// live (the hub offers it new events). Its queue is bounded: when the consumer reads slower than
// events arrive, the queue is dropped and the subscriber catches up from the table again, so a slow
// consumer costs a query now and then, never memory or other subscribers' time.
import type { Database } from '../db/database.js';
import { readRange } from '../db/events-repo.js';
import { matches, type EventFilter } from './filter.js';
import type { EventHub, LiveSink } from './hub.js';
import { HEARTBEAT, type EventRecord } from './types.js';

/** Where the events go: a gRPC stream in the server, anything with backpressure in tests. */
export interface EventOutput {
  /** false: the consumer is behind; wait for drained() before sending more. */
  send(event: EventRecord | Heartbeat): boolean;
  /** Resolves when the consumer caught up, or the stream closed. */
  drained(): Promise<void>;
  readonly closed: boolean;
  /** Resolves when the stream closed (consumer left or server ended it). */
  closing: Promise<void>;
  end(reason: 'shutdown'): void;
}

export interface Heartbeat {
  type: typeof HEARTBEAT;
  cursor: bigint;
  occurredAt: Date;
}

export interface SubscriptionOptions {
  maxQueue: number;
  pageSize: number;
  heartbeatMs: number;
}

export class Subscription implements LiveSink {
  /** The last cursor sent, or scanned past without a match. */
  private position: bigint;
  private queue: EventRecord[] = [];
  private overflowed = false;
  private attached = false;
  private waitingDrain = false;
  private lastSentAt = Date.now();
  private signal: (() => void) | null = null;

  constructor(
    private readonly db: Database,
    private readonly hub: EventHub,
    private readonly out: EventOutput,
    private readonly filter: EventFilter,
    start: bigint,
    private readonly options: SubscriptionOptions,
  ) {
    this.position = start;
  }

  async run(): Promise<void> {
    this.hub.register(this);
    const heartbeat = setInterval(() => this.heartbeat(), Math.max(50, Math.floor(this.options.heartbeatMs / 4)));
    void this.out.closing.then(() => this.wakeUp());
    try {
      while (!this.out.closed) {
        await this.hub.position();
        if (this.out.closed) break;
        // Synchronous from here to attach(): the hub cannot read new events in between.
        if (this.position >= this.hub.positionNow()) {
          await this.live();
          continue;
        }
        await this.catchUpPage(this.hub.positionNow());
      }
    } finally {
      clearInterval(heartbeat);
      this.hub.unregister(this);
    }
  }

  offer(event: EventRecord): void {
    if (event.cursor <= this.position || !matches(this.filter, event)) return;
    if (this.queue.length >= this.options.maxQueue) {
      // Too far behind to keep in memory: drop the queue and catch up from the table.
      this.overflowed = true;
      this.queue = [];
      this.hub.detach(this);
      this.attached = false;
    } else {
      this.queue.push(event);
    }
    this.wakeUp();
  }

  shutdown(): void {
    this.out.end('shutdown');
    this.wakeUp();
  }

  /** The cursor a heartbeat carries: resuming after it loses nothing this subscriber asked for. */
  private heartbeatCursor(): bigint {
    if (this.attached && !this.queue.length) {
      const hub = this.hub.positionNow();
      return hub > this.position ? hub : this.position;
    }
    return this.position;
  }

  private heartbeat(): void {
    if (this.out.closed || this.waitingDrain || Date.now() - this.lastSentAt < this.options.heartbeatMs) return;
    this.lastSentAt = Date.now();
    this.out.send({ type: HEARTBEAT, cursor: this.heartbeatCursor(), occurredAt: new Date() });
  }

  private async live(): Promise<void> {
    this.overflowed = false;
    this.attached = true;
    this.hub.attach(this);
    try {
      while (!this.out.closed && !this.overflowed) {
        const next = this.queue.shift();
        if (next) await this.deliver(next);
        else await new Promise<void>((resolve) => (this.signal = resolve));
      }
    } finally {
      this.hub.detach(this);
      this.attached = false;
      this.queue = [];
    }
  }

  private async catchUpPage(bound: bigint): Promise<void> {
    const { types, backendId, pathPrefix } = this.filter;
    const page = await readRange(this.db, this.position, bound, { types: types ? [...types] : null, backendId, pathPrefix }, this.options.pageSize);
    for (const event of page) {
      if (this.out.closed) return;
      if (matches(this.filter, event)) await this.deliver(event);
      else this.position = event.cursor;
    }
    if (page.length < this.options.pageSize && bound > this.position) this.position = bound;
  }

  private async deliver(event: EventRecord): Promise<void> {
    const ok = this.out.send(event);
    this.position = event.cursor;
    this.lastSentAt = Date.now();
    if (!ok) {
      this.waitingDrain = true;
      await this.out.drained();
      this.waitingDrain = false;
    }
  }

  private wakeUp(): void {
    const resolve = this.signal;
    this.signal = null;
    resolve?.();
  }
}
