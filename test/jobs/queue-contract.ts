// One suite for every JobQueue adapter: inline.test.ts and bullmq.test.ts run exactly these tests.
import test, { type ExecutionContext } from 'ava';
import { TerminalJobError, type JobContext, type JobQueue, type OnFailed, type RetryPolicy } from '../../src/jobs/index.js';

export type MakeQueue = (retry: RetryPolicy, onFailed?: OnFailed) => Promise<JobQueue>;

const NO_RETRY: RetryPolicy = { attempts: 1, backoffMs: 10 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve, to hold a handler open. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

async function until(what: string, cond: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function queueContract(name: string, make: MakeQueue): void {
  // Serial: the timing assertions (delay, backoff) should not compete for the CPU.
  const it = (title: string, retry: RetryPolicy, body: (q: JobQueue, t: ExecutionContext, failures: string[]) => Promise<void>) =>
    test.serial(`${name}: ${title}`, async (t) => {
      const failures: string[] = [];
      const q = await make(retry, (job, _id, err, terminal) => failures.push(`${job}:${(err as Error).message}:${terminal ? 'terminal' : 'retry'}`));
      try {
        await body(q, t, failures);
      } finally {
        await q.close();
      }
    });

  it('a job runs once with its data and a 1-based attempt', NO_RETRY, async (q, t) => {
    const seen: Array<[unknown, JobContext]> = [];
    q.process<{ n: number }>('plain', async (data, ctx) => void seen.push([data, ctx]));
    await q.enqueue('plain', { n: 42 });
    await q.drained(5000);
    t.true(seen.length === 1, `ran ${seen.length} times`);
    t.true(JSON.stringify(seen[0]![0]) === '{"n":42}', `data ${JSON.stringify(seen[0]![0])}`);
    t.true(seen[0]![1].attempt === 1 && typeof seen[0]![1].jobId === 'string', `ctx ${JSON.stringify(seen[0]![1])}`);
  });

  it('jobs enqueued before process() wait, and run once it is called', NO_RETRY, async (q, t) => {
    const seen: number[] = [];
    await q.enqueue('early', 1);
    await q.enqueue('early', 2);
    await sleep(100);
    t.true(seen.length === 0, 'ran without a handler');
    q.process<number>('early', async (n) => void seen.push(n));
    await q.drained(5000);
    t.true(seen.sort().join() === '1,2', `ran ${seen.join()}`);
  });

  it('a delayed job does not run before its delay', NO_RETRY, async (q, t) => {
    let ranAt = 0;
    q.process('later', async () => void (ranAt = Date.now()));
    const start = Date.now();
    await q.enqueue('later', null, { delayMs: 300 });
    await q.drained(5000);
    const waited = ranAt - start;
    t.true(waited >= 280 && waited < 2000, `ran after ${waited} ms`);
  });

  it('counts() shows waiting and delayed jobs before they are processed', NO_RETRY, async (q, t) => {
    await q.enqueue('counted', 1);
    await q.enqueue('counted', 2);
    await q.enqueue('counted', 3, { delayMs: 60_000 });
    const c = (await q.counts())['counted'];
    t.true(c?.waiting === 2 && c.delayed === 1 && c.active === 0 && c.failed === 0, `counts ${JSON.stringify(c)}`);
  });

  it('a jobId is not added again while its job waits or is delayed', NO_RETRY, async (q, t) => {
    await q.enqueue('dedupe', 'first', { jobId: 'x' });
    await q.enqueue('dedupe', 'second', { jobId: 'x' });
    await q.enqueue('dedupe', 'other', { jobId: 'y' });
    await q.enqueue('dedupe', 'late', { jobId: 'z', delayMs: 200 });
    await q.enqueue('dedupe', 'late again', { jobId: 'z', delayMs: 200 });
    let c = (await q.counts())['dedupe'];
    t.true(c?.waiting === 2 && c.delayed === 1, `counts ${JSON.stringify(c)}`);
    const seen: string[] = [];
    q.process<string>('dedupe', async (data, ctx) => void seen.push(`${ctx.jobId}=${data}`));
    await q.drained(5000);
    t.true(seen.sort().join() === 'x=first,y=other,z=late', `ran ${seen.join()}`);
    // Once it has run, the id can be used again.
    await q.enqueue('dedupe', 'again', { jobId: 'x' });
    await q.drained(5000);
    t.true(seen.length === 4 && seen[3] === 'x=again', `ran ${seen.join()}`);
  });

  it('a jobId enqueued again while its job is active runs again afterwards', NO_RETRY, async (q, t) => {
    const hold = gate();
    const seen: string[] = [];
    q.process<string>('busy', async (data) => {
      seen.push(data);
      if (data === 'first') await hold.opened;
    });
    await q.enqueue('busy', 'first', { jobId: 'k' });
    await until('the first job to start', () => seen.length === 1);
    await q.enqueue('busy', 'second', { jobId: 'k' });
    hold.open();
    await q.drained(5000);
    t.true(seen.join() === 'first,second', `ran ${seen.join()}`);
  });

  it('a failing job is retried with exponential backoff, then succeeds', { attempts: 5, backoffMs: 200 }, async (q, t) => {
    const calls: Array<{ attempt: number; at: number }> = [];
    q.process('flaky', async (_data, ctx) => {
      calls.push({ attempt: ctx.attempt, at: Date.now() });
      if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
    });
    await q.enqueue('flaky', null);
    await q.drained(5000);
    t.true(calls.map((c) => c.attempt).join() === '1,2,3', `attempts ${calls.map((c) => c.attempt).join()}`);
    const gap1 = calls[1]!.at - calls[0]!.at;
    const gap2 = calls[2]!.at - calls[1]!.at;
    // backoffMs, then 2 × backoffMs, give or take the timers' and Redis' latency (tens of ms on a
    // loaded 2-core machine: a short backoff would drown in it). The lower bounds tell the doubling: a
    // fixed backoff would give a second gap near 200 ms; load only ever lengthens a gap (comparing the
    // two gaps failed once when load delayed the first by 230 ms).
    t.true(gap1 >= 190 && gap1 < 800, `first gap ${gap1} ms`);
    t.true(gap2 >= 390 && gap2 < 1600, `second gap ${gap2} ms after ${gap1} ms`);
    const c = (await q.counts())['flaky'];
    t.true(c?.failed === 0, `counts ${JSON.stringify(c)}`);
  });

  it('a job that always fails is tried `attempts` times, then kept as failed', { attempts: 3, backoffMs: 10 }, async (q, t) => {
    let calls = 0;
    q.process('doomed', async () => {
      calls++;
      throw new Error('never works');
    });
    await q.enqueue('doomed', null);
    await q.drained(5000);
    await sleep(50); // no retry comes after the last attempt
    const c = (await q.counts())['doomed'];
    t.true(calls === 3, `called ${calls} times`);
    t.true(c?.failed === 1 && c.waiting + c.delayed + c.active === 0, `counts ${JSON.stringify(c)}`);
  });

  it('a TerminalJobError fails the job at once, without retries', { attempts: 5, backoffMs: 10 }, async (q, t) => {
    let calls = 0;
    q.process('hopeless', async () => {
      calls++;
      throw new TerminalJobError('the file is gone');
    });
    await q.enqueue('hopeless', null, { jobId: 'h' });
    await q.drained(5000);
    await sleep(100);
    const c = (await q.counts())['hopeless'];
    t.true(calls === 1, `called ${calls} times`);
    t.true(c?.failed === 1 && c.delayed === 0, `counts ${JSON.stringify(c)}`);
    // A failed job does not keep its id taken.
    await q.enqueue('hopeless', null, { jobId: 'h' });
    await q.drained(5000);
    t.is(calls, 2);
  });

  it('a jobId is not added again while its job waits for a retry', { attempts: 2, backoffMs: 300 }, async (q, t) => {
    const attempts: number[] = [];
    q.process('retrying', async (_data, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) throw new Error('first try fails');
    });
    await q.enqueue('retrying', null, { jobId: 'r' });
    await until('the retry to be delayed', () => attempts.length === 1);
    for (let i = 0; (await q.counts())['retrying']?.delayed !== 1; i++) {
      if (i > 100) throw new Error('the failed attempt never became a delayed retry');
      await sleep(5);
    }
    await q.enqueue('retrying', null, { jobId: 'r' });
    await q.drained(5000);
    t.deepEqual(attempts, [1, 2]);
  });

  it('no more jobs of a name run at once than its concurrency', NO_RETRY, async (q, t) => {
    let running = 0;
    let peak = 0;
    q.process(
      'parallel',
      async () => {
        peak = Math.max(peak, ++running);
        await sleep(40);
        running--;
      },
      { concurrency: 2 },
    );
    for (let i = 0; i < 6; i++) await q.enqueue('parallel', i);
    await q.drained(5000);
    t.true(peak === 2, `peak ${peak}`);
  });

  it('drained() resolves after every job is done, and rejects clearly on timeout', NO_RETRY, async (q, t) => {
    let done = 0;
    q.process('batch', async () => {
      await sleep(20);
      done++;
    });
    for (let i = 0; i < 5; i++) await q.enqueue('batch', i);
    await q.drained(5000);
    t.true(done === 5, `done ${done}`);
    await q.enqueue('orphan', null); // no handler: never drains
    const err = await q.drained(100).then(() => null, (e: Error) => e);
    t.true(err !== null && /still waiting, delayed or active after 100 ms/.test(err.message), `drained gave ${err?.message}`);
  });

  it('close() waits for an active job to finish', NO_RETRY, async (q, t) => {
    let finished = false;
    let started = false;
    q.process('slow', async () => {
      started = true;
      await sleep(300);
      finished = true;
    });
    await q.enqueue('slow', null);
    await until('the job to start', () => started);
    await q.close();
    t.true(finished, 'close() returned before the active job finished');
  });

  it('onFailed hears every failed attempt; terminal when no retry follows', { attempts: 2, backoffMs: 10 }, async (q, t, failures) => {
    q.process<string>('reported', async (data, ctx) => {
      if (data === 'terminal') throw new TerminalJobError('no such file');
      throw new Error(`try ${ctx.attempt}`);
    });
    await q.enqueue('reported', 'terminal');
    await q.drained(5000);
    await q.enqueue('reported', 'flaky');
    await q.drained(5000);
    t.deepEqual(failures, ['reported:no such file:terminal', 'reported:try 1:retry', 'reported:try 2:terminal']);
  });
}
