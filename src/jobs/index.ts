import { InlineQueue } from './inline-queue.js';
import type { JobQueue, OnFailed, RetryPolicy } from './queue.js';

export * from './queue.js';
export type { BullMqQueueOptions } from './bullmq-queue.js';
export { InlineQueue, type InlineQueueOptions } from './inline-queue.js';

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, backoffMs: 1000 };

export interface OpenQueueOptions {
  /** null or 'inline': jobs run in this process; otherwise a Redis URL for BullMQ. */
  redisUrl: string | null;
  prefix: string;
  retry?: RetryPolicy;
  onFailed?: OnFailed;
  stalledMs?: number;
}

/** BullMQ is loaded only when a Redis URL asks for it: importing it costs a process about 25 MiB of RSS. */
export async function openQueue(opts: OpenQueueOptions): Promise<JobQueue> {
  const retry = opts.retry ?? DEFAULT_RETRY;
  if (opts.redisUrl === null || opts.redisUrl === 'inline') return new InlineQueue({ retry, onFailed: opts.onFailed });
  const { BullMqQueue } = await import('./bullmq-queue.js');
  return new BullMqQueue({ redisUrl: opts.redisUrl, prefix: opts.prefix, retry, onFailed: opts.onFailed, stalledMs: opts.stalledMs });
}
