// Jobs run in this process on timers: nothing survives a restart. Same semantics as BullMqQueue.
import { randomUUID } from 'node:crypto';
import { backoffDelay, KEEP_FAILED, pollUntil, reportFailure, TerminalJobError, type EnqueueOptions, type JobCounts, type JobHandler, type JobQueue, type OnFailed, type RetryPolicy, type WorkerOptions } from './queue.js';

export interface InlineQueueOptions {
  retry: RetryPolicy;
  onFailed?: OnFailed;
}

interface Job {
  id: string;
  data: unknown;
  attempt: number;
  timer?: NodeJS.Timeout;
}

class Lane {
  readonly waiting: Job[] = [];
  readonly delayed = new Set<Job>();
  readonly running = new Set<Promise<void>>();
  readonly failed: string[] = [];
  handler?: JobHandler<any>;
  concurrency = 1;

  has(id: string): boolean {
    return this.waiting.some((j) => j.id === id) || [...this.delayed].some((j) => j.id === id);
  }
}

export class InlineQueue implements JobQueue {
  readonly kind = 'inline';
  private readonly lanes = new Map<string, Lane>();
  private closed = false;

  constructor(private readonly opts: InlineQueueOptions) {}

  private lane(name: string): Lane {
    let lane = this.lanes.get(name);
    if (!lane) this.lanes.set(name, (lane = new Lane()));
    return lane;
  }

  async enqueue<T>(name: string, data: T, opts: EnqueueOptions = {}): Promise<void> {
    if (this.closed) throw new Error(`enqueue ${name}: the job queue is closed`);
    const lane = this.lane(name);
    if (opts.jobId !== undefined && lane.has(opts.jobId)) return;
    this.schedule(name, lane, { id: opts.jobId ?? randomUUID(), data, attempt: 1 }, opts.delayMs ?? 0);
  }

  private schedule(name: string, lane: Lane, job: Job, delayMs: number): void {
    if (delayMs <= 0) {
      lane.waiting.push(job);
      this.pump(name, lane);
      return;
    }
    lane.delayed.add(job);
    job.timer = setTimeout(() => {
      lane.delayed.delete(job);
      lane.waiting.push(job);
      this.pump(name, lane);
    }, delayMs);
  }

  process<T>(name: string, handler: JobHandler<T>, opts: WorkerOptions = {}): void {
    const lane = this.lane(name);
    if (lane.handler) throw new Error(`jobs named ${name} already have a handler`);
    lane.handler = handler;
    lane.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.pump(name, lane);
  }

  private pump(name: string, lane: Lane): void {
    while (!this.closed && lane.handler && lane.running.size < lane.concurrency && lane.waiting.length > 0) {
      const run = this.run(name, lane, lane.waiting.shift()!);
      lane.running.add(run);
      void run.finally(() => {
        lane.running.delete(run);
        this.pump(name, lane);
      });
    }
  }

  private async run(name: string, lane: Lane, job: Job): Promise<void> {
    try {
      await lane.handler!(job.data, { attempt: job.attempt, jobId: job.id });
    } catch (err) {
      const terminal = err instanceof TerminalJobError || job.attempt >= this.opts.retry.attempts;
      reportFailure(this.opts.onFailed, name, job.id, err, terminal);
      if (terminal) {
        lane.failed.push(job.id);
        if (lane.failed.length > KEEP_FAILED) lane.failed.shift();
      } else if (!this.closed) {
        this.schedule(name, lane, { ...job, attempt: job.attempt + 1, timer: undefined }, backoffDelay(this.opts.retry, job.attempt));
      }
    }
  }

  async counts(): Promise<Record<string, JobCounts>> {
    const out: Record<string, JobCounts> = {};
    for (const [name, lane] of this.lanes) {
      out[name] = { waiting: lane.waiting.length, active: lane.running.size, delayed: lane.delayed.size, failed: lane.failed.length, completed: 0 };
    }
    return out;
  }

  drained(timeoutMs?: number): Promise<void> {
    const idle = () => [...this.lanes.values()].every((l) => l.waiting.length === 0 && l.delayed.size === 0 && l.running.size === 0);
    return pollUntil(idle, 'inline job queue not drained', timeoutMs, 5);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const lane of this.lanes.values()) {
      for (const job of lane.delayed) clearTimeout(job.timer);
      lane.delayed.clear();
      lane.waiting.length = 0;
    }
    await Promise.allSettled([...this.lanes.values()].flatMap((l) => [...l.running]));
  }
}
