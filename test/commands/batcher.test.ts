// The batcher in front of group commit (src/commands/batcher.ts): pure, no I/O.
import test from 'ava';
import { Batcher, type Outcomes } from '../../src/commands/batcher.js';

/** A batch function that records its batches and answers when `release` is called. */
function recording() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const run = async (items: number[]): Promise<Outcomes<string>> => {
    batches.push(items);
    await new Promise<void>((r) => gates.push(r));
    if (items.includes(-1)) throw new Error('the whole batch failed');
    return items.map((i) => (i % 5 === 0 ? { ok: false, error: new Error(`refused ${i}`) } : { ok: true, value: `done ${i}` }));
  };
  const release = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  return { batches, run, release };
}

test('a lone request starts at once; those arriving meanwhile go together in the next batch, bounded', async (t) => {
  const r = recording();
  const b = new Batcher(r.run, { maxBatch: 3, maxInFlight: 1 });
  const first = b.submit(1);
  await new Promise((res) => setImmediate(res));
  t.deepEqual(r.batches, [[1]], 'started without waiting for company');
  const rest = [2, 3, 4, 6].map((i) => b.submit(i));
  await r.release();
  t.is(await first, 'done 1');
  await r.release();
  await r.release();
  t.deepEqual(await Promise.all(rest), ['done 2', 'done 3', 'done 4', 'done 6']);
  t.deepEqual(r.batches, [[1], [2, 3, 4], [6]]);
});

test('each request gets its own outcome: a refused one fails alone, a failed batch fails only its own requests', async (t) => {
  const r = recording();
  const b = new Batcher(r.run, { maxBatch: 10, maxInFlight: 1 });
  const warm = b.submit(1);
  await new Promise((res) => setImmediate(res));
  const mixed = [2, 5, 3].map((i) => b.submit(i));
  await r.release();
  await warm;
  await new Promise((res) => setImmediate(res)); // the mixed batch is running: the next ones wait
  const doomed = [-1, 7].map((i) => b.submit(i));
  await r.release();
  t.deepEqual(await Promise.allSettled(mixed).then((o) => o.map((x) => (x.status === 'fulfilled' ? x.value : (x.reason as Error).message))), ['done 2', 'refused 5', 'done 3']);
  await r.release();
  const failed = await Promise.allSettled(doomed);
  t.deepEqual(failed.map((x) => x.status === 'rejected' && (x.reason as Error).message), ['the whole batch failed', 'the whole batch failed']);
  t.is(await (async () => { const p = b.submit(8); await r.release(); return p; })(), 'done 8', 'the batcher goes on after a failed batch');
});

test('several batches in flight at most maxInFlight', async (t) => {
  const r = recording();
  const b = new Batcher(r.run, { maxBatch: 10, maxInFlight: 2 });
  const all = [1, 2, 3, 4].map((i) => b.submit(i));
  await new Promise((res) => setImmediate(res));
  t.deepEqual(r.batches, [[1, 2, 3, 4]], 'submitted in one go: one batch');
  const later = [6, 7].map((i) => b.submit(i));
  await new Promise((res) => setImmediate(res));
  t.deepEqual(r.batches, [[1, 2, 3, 4], [6, 7]], 'a second slot takes the next ones at once');
  const last = b.submit(8);
  await new Promise((res) => setImmediate(res));
  t.is(r.batches.length, 2, 'no third batch while two run');
  await r.release();
  await r.release();
  await r.release();
  t.deepEqual(await Promise.all([...all, ...later, last]), ['done 1', 'done 2', 'done 3', 'done 4', 'done 6', 'done 7', 'done 8']);
});
