// A real subscriber over grpc-js: collects events, can pause reading, cancel, and wait for conditions.
import { Metadata, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { EventsServiceClient, SubscribeRequest, type Event, type SubscribeResponse } from '../../gen/filestore/v1/events_service.js';

export const HEARTBEAT = 'filestore.heartbeat';

export class Subscriber {
  /** Events received, heartbeats excluded, in arrival order. */
  readonly events: Event[] = [];
  readonly heartbeats: Event[] = [];
  error: ServiceError | null = null;
  /** Events to leave out on arrival (e.g. of commands made before the subscription, see Subscribe "from now"). */
  ignore: ((e: Event) => boolean) | null = null;
  readonly done: Promise<void>;
  private readonly stream: ClientReadableStream<SubscribeResponse>;
  private readonly waiters = new Set<() => void>();

  constructor(client: EventsServiceClient, req: Partial<SubscribeRequest>, metadata = new Metadata()) {
    this.stream = client.subscribe(SubscribeRequest.fromPartial(req), metadata);
    this.stream.on('data', (res: SubscribeResponse) => {
      const e = res.event!;
      if (this.ignore?.(e)) return;
      (e.type === HEARTBEAT ? this.heartbeats : this.events).push(e);
      this.notify();
    });
    this.done = new Promise((resolve) => {
      this.stream.on('error', (err: ServiceError) => {
        this.error = err;
        this.notify();
        resolve();
      });
      this.stream.on('end', () => {
        this.notify();
        resolve();
      });
    });
  }

  /** The cursor to resume after: the last event's or heartbeat's, whichever came later. */
  lastCursor(): string {
    const candidates = [this.events.at(-1)?.cursor, this.heartbeats.at(-1)?.cursor].filter((c): c is string => !!c);
    return candidates.reduce((a, b) => (BigInt(a) > BigInt(b) ? a : b), '');
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  cancel(): void {
    this.stream.cancel();
  }

  /** Resolves when `ready()` holds; rejects after `timeoutMs`, or if the stream fails first. */
  async until(ready: (s: Subscriber) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready(this)) {
      if (this.error) throw new Error(`subscription failed while waiting for ${what}: ${this.error.message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.events.length} events received)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 200));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  /** Resolves with the stream's error (a refused subscription), or rejects if it opens and sends. */
  async refusal(timeoutMs = 5000): Promise<ServiceError> {
    await this.until((s) => !!s.error || s.events.length > 0, timeoutMs, 'a refusal');
    if (!this.error) throw new Error(`expected the subscription to be refused, got event ${this.events[0].type}`);
    return this.error;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }
}
