// Jobs in Redis through BullMQ: one BullMQ queue per job name, so each name has its own depth,
// workers and concurrency. Producers fail fast while Redis is down (callers enqueue after a
// database commit and must not wait); workers keep reconnecting until it is back.
import { Queue, UnrecoverableError, Worker, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { KEEP_FAILED, pollUntil, reportFailure, TerminalJobError, type EnqueueOptions, type JobCounts, type JobHandler, type JobQueue, type OnFailed, type RetryPolicy, type WorkerOptions } from './queue.js';

export interface BullMqQueueOptions {
  redisUrl: string;
  /** Key prefix of every queue (BullMQ's `prefix`). */
  prefix: string;
  retry: RetryPolicy;
  onFailed?: OnFailed;
  /** Lock duration and stalled-job check interval of workers; BullMQ's defaults when unset. */
  stalledMs?: number;
  /** How long enqueue may wait for Redis before it rejects. */
  enqueueTimeoutMs?: number;
}

const retryStrategy = (attempt: number) => Math.min(50 * attempt, 1000);

export class BullMqQueue implements JobQueue {
  readonly kind = 'bullmq';
  private readonly producer: Redis;
  private workerConn?: Redis;
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Map<string, Worker>();
  private readonly timeoutMs: number;
  private closed = false;
  /** Why the producer is disconnected, once it has failed; null while connected or still starting. */
  private down: string | null = null;

  constructor(private readonly opts: BullMqQueueOptions) {
    this.timeoutMs = opts.enqueueTimeoutMs ?? 1500;
    // No offline queue and no retries: a command while disconnected fails at once.
    this.producer = new Redis(opts.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.timeoutMs,
      retryStrategy,
      connectionName: `${opts.prefix}:producer`,
    });
    this.producer.on('error', (err: Error) => (this.down = err.message));
    this.producer.on('close', () => (this.down ??= 'connection closed'));
    this.producer.on('ready', () => (this.down = null));
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      // The producer is shared, not owned: closing the Queue leaves it open. skipVersionCheck
      // spares an INFO round trip per queue.
      queue = new Queue(name, { connection: this.producer, prefix: this.opts.prefix, skipVersionCheck: true });
      queue.on('error', () => {});
      this.queues.set(name, queue);
    }
    return queue;
  }

  async enqueue<T>(name: string, data: T, opts: EnqueueOptions = {}): Promise<void> {
    if (this.closed) throw new Error(`enqueue ${name}: the job queue is closed`);
    const { attempts, backoffMs } = this.opts.retry;
    const jobOpts: JobsOptions = {
      attempts,
      backoff: { type: 'exponential', delay: backoffMs },
      delay: opts.delayMs,
      removeOnComplete: true,
      removeOnFail: { count: KEEP_FAILED },
    };
    // Not BullMQ's jobId, which stays taken while the job is active and for as long as it is kept
    // as failed. Deduplication drops an add while the job waits or is delayed (retries included);
    // one added while it is active is kept (latest data) and added when the active one ends.
    if (opts.jobId !== undefined) jobOpts.deduplication = { id: opts.jobId, keepLastIfActive: true };
    const deadline = Date.now() + this.timeoutMs;
    await this.ready(name, this.timeoutMs);
    const left = Math.max(deadline - Date.now(), 100);
    try {
      await withTimeout(this.queue(name).add(name, data, jobOpts), left, `Redis did not answer within ${this.timeoutMs} ms`);
    } catch (err) {
      throw new Error(`enqueue ${name}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * While Redis is known to be down, fails at once; while the first connection is being made,
   * waits for it (bounded). Either way no add is left pending past a rejection.
   */
  private ready(name: string, ms: number): Promise<void> {
    if (this.producer.status === 'ready') return Promise.resolve();
    const unreachable = (why: string) => new Error(`enqueue ${name}: Redis at ${redact(this.opts.redisUrl)} is unreachable: ${why}`);
    if (this.down !== null) return Promise.reject(unreachable(this.down));
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        clearTimeout(timer);
        this.producer.off('ready', settle).off('error', settle);
        if (err) reject(unreachable(err.message));
        else resolve();
      };
      const timer = setTimeout(() => settle(new Error(`no connection within ${ms} ms`)), ms);
      this.producer.once('ready', settle).once('error', settle);
    });
  }

  process<T>(name: string, handler: JobHandler<T>, opts: WorkerOptions = {}): void {
    if (this.closed) throw new Error(`process ${name}: the job queue is closed`);
    if (this.workers.has(name)) throw new Error(`jobs named ${name} already have a handler`);
    this.queue(name); // so that counts() and drained() see it
    // BullMQ duplicates this connection for each worker (commands + blocking fetch); it must
    // wait through outages rather than fail, hence maxRetriesPerRequest: null.
    if (!this.workerConn) {
      this.workerConn = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: null, retryStrategy, connectionName: `${this.opts.prefix}:workers` });
      this.workerConn.on('error', () => {});
    }
    const { attempts } = this.opts.retry;
    const worker = new Worker(
      name,
      async (job) => {
        const jobId = job.opts.deduplication?.id ?? job.id!;
        try {
          await handler(job.data as T, { attempt: job.attemptsMade + 1, jobId });
        } catch (err) {
          const terminal = err instanceof TerminalJobError;
          reportFailure(this.opts.onFailed, name, jobId, err, terminal || job.attemptsMade + 1 >= attempts);
          if (terminal) throw new UnrecoverableError(err.message);
          throw err;
        }
      },
      {
        connection: this.workerConn,
        prefix: this.opts.prefix,
        concurrency: Math.max(1, opts.concurrency ?? 1),
        ...(this.opts.stalledMs === undefined ? {} : { lockDuration: this.opts.stalledMs, stalledInterval: this.opts.stalledMs }),
      },
    );
    worker.on('error', () => {}); // connection errors while Redis is down: the worker retries
    this.workers.set(name, worker);
  }

  async counts(): Promise<Record<string, JobCounts>> {
    const out: Record<string, JobCounts> = {};
    for (const [name, queue] of this.queues) {
      const c = await queue.getJobCounts('wait', 'prioritized', 'active', 'delayed', 'failed', 'completed');
      out[name] = { waiting: c.wait + c.prioritized, active: c.active, delayed: c.delayed, failed: c.failed, completed: c.completed };
    }
    return out;
  }

  drained(timeoutMs?: number): Promise<void> {
    const idle = async () => Object.values(await this.counts()).every((c) => c.waiting + c.active + c.delayed === 0);
    return pollUntil(idle, 'bullmq job queue not drained', timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.workers.values()].map((w) => w.close()));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.producer.disconnect();
    this.workerConn?.disconnect();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
