// The events side of the service: where a subscription starts, and the parts it runs on.
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { currentWatermark, prunedThrough } from '../db/events-repo.js';
import { invalidArgument, outOfRange } from '../errors/domain-error.js';
import { formatCursor, parseCursor } from './cursor.js';
import { parseFilter, type EventFilter } from './filter.js';
import type { EventHub } from './hub.js';
import { Subscription, type EventOutput, type SubscriptionOptions } from './subscription.js';

export interface SubscribeInput {
  afterCursor: string;
  eventTypes: string[];
  backendId: number;
  pathPrefix: string;
}

export class EventService {
  constructor(
    private readonly db: Database,
    readonly hub: EventHub,
    private readonly options: SubscriptionOptions,
    private readonly log: Logger,
  ) {}

  /** Validates a request; refuses it (nothing started) when its filter or cursor is bad. */
  async prepare(req: SubscribeInput): Promise<{ filter: EventFilter; start: bigint }> {
    const filter = parseFilter(req);
    const after = parseCursor(req.afterCursor);
    const start = after === null ? await this.hub.position() : await this.checkResumable(after, filter.backendId);
    return { filter, start };
  }

  /** Streams events to `out` until it closes. */
  run(out: EventOutput, filter: EventFilter, start: bigint): Promise<void> {
    return new Subscription(this.db, this.hub, out, filter, start, this.options).run();
  }

  private async checkResumable(after: bigint, backendId: number): Promise<bigint> {
    const watermark = await currentWatermark(this.db);
    if (after >= watermark) {
      throw invalidArgument(
        'CURSOR_AHEAD',
        `after_cursor ${formatCursor(after)} is ahead of this event stream (it ends before ${formatCursor(watermark)}); ` +
          'it may come from another installation or a database restored from backup: subscribe from now (empty after_cursor)',
      );
    }
    const horizon = await prunedThrough(this.db, backendId);
    if (horizon !== null && after < horizon) {
      this.log.info({ after: formatCursor(after), horizon: formatCursor(horizon) }, 'refused a resume from before retention');
      throw outOfRange(
        'CURSOR_EXPIRED',
        `after_cursor ${formatCursor(after)} is older than event retention; the oldest cursor you can resume after is ${formatCursor(horizon)} ` +
          '(events between the two were pruned: re-read current state, then resume from there)',
        { oldest_cursor: formatCursor(horizon) },
      );
    }
    return after;
  }
}
