// Wake-ups across instances over Redis pub/sub. Redis is never the only copy of an event: the
// outbox table is. While Redis is down, publishing is dropped at once (writers never wait on it)
// and hubs fall back to polling; on reconnect they poll immediately.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Wakeup } from './wakeup.js';

/** The hash tag keeps the channel on one slot of a Redis Cluster. */
export const WAKE_CHANNEL = '{filestore}:events:wake';

const retryStrategy = (attempt: number) => Math.min(50 * attempt, 1000);

export class RedisWakeup implements Wakeup {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private listener: (cursor: bigint | null) => void = () => {};
  private down = false;

  constructor(url: string, private readonly log: Logger) {
    // No offline queue: a PUBLISH while disconnected fails at once instead of piling up.
    this.pub = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy, connectionName: 'filestore-events-pub' });
    this.sub = new Redis(url, { retryStrategy, connectionName: 'filestore-events-sub', maxRetriesPerRequest: null });
    for (const conn of [this.pub, this.sub]) conn.on('error', (err) => this.reportDown(err));
    this.sub.on('message', (_channel: string, message: string) => {
      if (/^\d{1,19}$/.test(message)) this.listener(BigInt(message));
    });
    this.sub.on('ready', () => {
      if (this.down) this.log.info('redis wake-up channel is back');
      this.down = false;
      this.listener(null); // wake-ups sent while we were away are lost: catch up now
    });
    this.sub.subscribe(WAKE_CHANNEL).catch((err) => this.reportDown(err));
  }

  private reportDown(err: Error): void {
    if (this.down) return;
    this.down = true;
    this.log.warn({ err: err.message }, 'redis wake-up channel is down; event hubs poll until it is back');
  }

  publish(cursor: bigint): void {
    if (this.pub.status !== 'ready') return;
    this.pub.publish(WAKE_CHANNEL, cursor.toString()).catch(() => {});
  }

  onWake(listener: (cursor: bigint | null) => void): void {
    this.listener = listener;
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
