// The job queue seen by the rest of the service. Two adapters implement it: BullMQ over Redis
// (jobs survive restarts and are shared by every instance) and an in-process one (tests, and
// single-instance setups without Redis). Both are tested by the same suite (test/jobs).

export interface EnqueueOptions {
  /** A job of the same name with this id that is still waiting or delayed is not added again. */
  jobId?: string;
  delayMs?: number;
}

export interface JobContext {
  /** 1-based. */
  attempt: number;
  /** The caller's jobId if it gave one, else an id made by the adapter. */
  jobId: string;
}

export type JobHandler<T = unknown> = (data: T, ctx: JobContext) => Promise<void>;

export interface WorkerOptions {
  concurrency?: number;
}

export interface JobCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
}

/** Total attempts (the first included); the n-th retry waits backoffMs * 2^(n-1). */
export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

/**
 * Called after every failed attempt. `terminal` is true when no retry follows: the handler threw
 * a TerminalJobError, or it was the last attempt. The job is then kept among the failed ones.
 */
export type OnFailed = (name: string, jobId: string, err: unknown, terminal: boolean) => void;

export interface JobQueue {
  readonly kind: 'bullmq' | 'inline';
  enqueue<T>(name: string, data: T, opts?: EnqueueOptions): Promise<void>;
  /** Starts processing jobs of this name in this process. Only processes that run workers call it. */
  process<T>(name: string, handler: JobHandler<T>, opts?: WorkerOptions): void;
  /**
   * Depth by state, per job name this process has enqueued or processed (for metrics).
   * Completed jobs are not kept, so `completed` is 0; the last 1000 failed jobs of each name are.
   */
  counts(): Promise<Record<string, JobCounts>>;
  /** Resolves when no job is waiting, delayed or active (polls; for tests and shutdown). */
  drained(timeoutMs?: number): Promise<void>;
  /** Stops workers (active jobs finish first) and disconnects. */
  close(): Promise<void>;
}

/** Thrown by a handler for a job that can never succeed: it is marked failed at once, not retried. */
export class TerminalJobError extends Error {
  override name = 'TerminalJobError';
}

export const KEEP_FAILED = 1000;

export const backoffDelay = (retry: RetryPolicy, failedAttempt: number) => retry.backoffMs * 2 ** (failedAttempt - 1);

/** Polls `isIdle` until it is true; rejects after `timeoutMs` if given. */
export async function pollUntil(isIdle: () => Promise<boolean> | boolean, what: string, timeoutMs?: number, everyMs = 20): Promise<void> {
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  while (!(await isIdle())) {
    if (Date.now() >= deadline) throw new Error(`${what}: jobs still waiting, delayed or active after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A throwing onFailed callback must not break the queue. */
export function reportFailure(onFailed: OnFailed | undefined, name: string, jobId: string, err: unknown, terminal: boolean): void {
  try {
    onFailed?.(name, jobId, err, terminal);
  } catch {
    // ignored on purpose
  }
}
