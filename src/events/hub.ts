// One per process: reads newly committed events from the outbox (woken by local commits and by
// wake-ups from other instances, and on a poll interval) and offers them to live subscribers.
// Subscribers that fall behind leave the hub and catch up from the table on their own.
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { readBelowWatermark } from '../db/events-repo.js';
import { unavailable } from '../errors/domain-error.js';
import type { EventRecord } from './types.js';
import type { Wakeup } from './wakeup.js';

export interface HubOptions {
  /** Longest wait before new events are seen when no wake-up arrives. */
  pollIntervalMs: number;
  /** Events read per query. */
  batchSize: number;
}

/** A live subscriber, as the hub sees it. */
export interface LiveSink {
  offer(event: EventRecord): void;
  /** The hub closed: end the stream. */
  shutdown(): void;
}

const FIRST_RETRY_MS = 2;
/** While a wake-up's events are held back by an older open transaction: look this often at most. */
const MAX_RETRY_MS = 16;

export class EventHub {
  /** Every event with a cursor at or below this has been read (null until the first poll). */
  private scanned: bigint | null = null;
  private readonly live = new Set<LiveSink>();
  private readonly all = new Set<LiveSink>();
  private polling: Promise<void> | null = null;
  private again = false;
  /** The highest cursor a wake-up announced: poll again until it is read. */
  private wanted = 0n;
  private timer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private retryDelay = FIRST_RETRY_MS;
  private failing = false;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly wakeup: Wakeup,
    private readonly options: HubOptions,
    private readonly log: Logger,
  ) {
    wakeup.onWake((cursor) => this.wake(cursor));
  }

  /** A local command committed events up to `cursor`. */
  committed(cursor: bigint): void {
    this.wake(cursor);
    if (cursor > 0n) this.wakeup.publish(cursor);
  }

  /** Cursor null: something may have committed; poll. */
  wake(cursor: bigint | null): void {
    if (cursor !== null && cursor > this.wanted) this.wanted = cursor;
    if (this.all.size) void this.poll();
  }

  /** Where the hub stands; reads the watermark first when it has not polled yet. */
  async position(): Promise<bigint> {
    while (this.scanned === null) {
      await this.poll();
      if (this.scanned !== null) break;
      if (this.closed) throw unavailable('SERVER_SHUTTING_DOWN', 'this server is shutting down; subscribe again on another instance');
      if (this.failing) throw unavailable('DATABASE_UNAVAILABLE', 'the event outbox cannot be read right now; retry shortly');
    }
    return this.scanned;
  }

  /** The position right now, without waiting; only valid after position() resolved. */
  positionNow(): bigint {
    return this.scanned ?? 0n;
  }

  /** A subscription exists (catching up or live): the hub polls while there is one. */
  register(sink: LiveSink): void {
    if (this.closed) return sink.shutdown();
    this.all.add(sink);
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.options.pollIntervalMs);
      this.timer.unref();
    }
  }

  unregister(sink: LiveSink): void {
    this.live.delete(sink);
    this.all.delete(sink);
    if (this.all.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
      this.scanned = null; // nobody needs it kept current; the next subscriber reads the watermark again
    }
  }

  /** The caller has read everything up to positionNow(): from now on the hub offers it new events. */
  attach(sink: LiveSink): void {
    this.live.add(sink);
  }

  detach(sink: LiveSink): void {
    this.live.delete(sink);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    for (const sink of [...this.all]) sink.shutdown();
    await this.polling?.catch(() => {});
  }

  private poll(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.polling) {
      this.again = true;
      return this.polling;
    }
    this.polling = this.pollLoop().finally(() => {
      this.polling = null;
      this.scheduleRetry();
    });
    return this.polling;
  }

  private async pollLoop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.readOnce();
        if (this.failing) this.log.info('event hub reads the outbox again');
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.log.warn({ err: (err as Error).message }, 'event hub cannot read the outbox; retrying');
        this.failing = true;
        return;
      }
    } while (this.again && !this.closed);
  }

  private async readOnce(): Promise<void> {
    if (this.scanned === null) {
      const { watermark } = await readBelowWatermark(this.db, 0n, 0);
      if (this.scanned === null) this.scanned = watermark - 1n;
      return;
    }
    const { events, watermark } = await readBelowWatermark(this.db, this.scanned, this.options.batchSize);
    if (this.scanned === null) return; // every subscriber left while we read
    for (const event of events) {
      this.scanned = event.cursor;
      for (const sink of this.live) sink.offer(event);
    }
    if (events.length < this.options.batchSize) {
      if (watermark - 1n > this.scanned) this.scanned = watermark - 1n;
    } else {
      this.again = true;
    }
  }

  /**
   * A wake-up announced events the watermark did not yet let us read (an older transaction was still
   * open): look again soon (an indexed query every few ms, only while behind), so that delivery follows
   * the older transaction's end closely.
   */
  private scheduleRetry(): void {
    if (this.closed || this.retry || this.all.size === 0) return;
    const behind = this.scanned !== null && this.wanted > this.scanned;
    if (!behind || this.failing) {
      this.retryDelay = FIRST_RETRY_MS; // failing: the poll interval retries
      return;
    }
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, MAX_RETRY_MS, this.options.pollIntervalMs);
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.poll();
    }, delay);
    this.retry.unref();
  }
}
