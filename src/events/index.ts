// Assembles the events side for one process: wake-ups (Redis or in-process), hub, retention.
import type { Logger } from 'pino';
import type { EventsConfig } from '../config/config.js';
import type { Database } from '../db/database.js';
import { EventService } from './event-service.js';
import { EventHub } from './hub.js';
import { EventPruner } from './retention.js';
import { InProcessWakeup, type Wakeup } from './wakeup.js';

export interface EventsRuntime {
  hub: EventHub;
  service: EventService;
  close(): Promise<void>;
}

/** ioredis is loaded only with a Redis URL: it costs a process about 9 MiB of RSS. */
export async function startEvents(db: Database, config: EventsConfig, redisUrl: string | null, backendIds: number[], log: Logger): Promise<EventsRuntime> {
  const wakeup: Wakeup = redisUrl ? new (await import('./redis-wakeup.js')).RedisWakeup(redisUrl, log) : new InProcessWakeup();
  const hub = new EventHub(db, wakeup, { pollIntervalMs: config.pollIntervalMs, batchSize: 1000 }, log);
  const service = new EventService(db, hub, { maxQueue: config.maxQueue, pageSize: 500, heartbeatMs: config.heartbeatMs }, log);
  const pruner = new EventPruner(db, backendIds, { retentionMs: config.retentionMs, intervalMs: config.pruneIntervalMs, batchSize: 5000 }, log);
  pruner.start();
  return {
    hub,
    service,
    async close() {
      await pruner.stop();
      await hub.close();
      await wakeup.close();
    },
  };
}
