// The data directory's lock (src/db/data-dir-lock.ts) between real processes: a holder refuses the
// others with its name, a holder killed with SIGKILL is taken over at once, a pid that now belongs
// to another process is no holder, a holder on another host or in another pid namespace is refused
// (nothing here can tell whether it runs), and of processes racing to take over a dead holder's
// lock exactly one wins.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { lockDataDir, readRecord, type LockRecord } from '../../src/db/data-dir-lock.js';
import { identityOf, thisProcess, type ProcessIdentity } from '../../src/db/process-identity.js';
import { StartupError } from '../../src/errors/startup-error.js';

const CONTENDER = path.resolve(import.meta.dirname, '../support/lock-contender.ts');
const LOCK = 'pglite.lock';
const linux = thisProcess().startTime !== null;

type Answer = { event: 'ready'; pid: number } | { event: 'acquired'; record: LockRecord } | { event: 'refused'; message: string } | { event: 'released' };

/** A child process running test/support/lock-contender.ts. */
class Contender {
  private readonly answers: Answer[] = [];
  private readonly waiting: ((a: Answer) => void)[] = [];
  readonly exited: Promise<unknown>;

  private constructor(readonly child: ChildProcess) {
    this.exited = once(child, 'exit');
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const answer = JSON.parse(line) as Answer;
      const waiter = this.waiting.shift();
      if (waiter) waiter(answer);
      else this.answers.push(answer);
    });
  }

  static async start(dataDir: string, role: string): Promise<Contender> {
    const child = spawn(process.execPath, ['--import', 'tsx', CONTENDER, dataDir, role], { stdio: ['pipe', 'pipe', 'inherit'] });
    const c = new Contender(child);
    const ready = await c.next();
    if (ready.event !== 'ready') throw new Error(`contender: ${JSON.stringify(ready)}`);
    return c;
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(command: 'go' | 'release' | 'exit' | `go ${number}`): void {
    this.child.stdin!.write(`${command}\n`);
  }

  next(): Promise<Answer> {
    const answer = this.answers.shift();
    return answer ? Promise.resolve(answer) : new Promise((resolve) => this.waiting.push(resolve));
  }

  ask(command: 'go' | 'release'): Promise<Answer> {
    this.send(command);
    return this.next();
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

function tempDataDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'filestore-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function contenders(t: { teardown(fn: () => Promise<void>): void }, dataDir: string, n: number): Promise<Contender[]> {
  const all = await Promise.all(Array.from({ length: n }, (_, i) => Contender.start(dataDir, `contender-${i}`)));
  t.teardown(async () => {
    await Promise.all(all.map((c) => c.kill()));
  });
  return all;
}

/** The identity of a process that has exited (and been reaped). */
async function deadProcess(): Promise<ProcessIdentity> {
  const child = spawn('sleep', ['30']);
  await once(child, 'spawn');
  const identity = identityOf(child.pid!);
  child.kill('SIGKILL');
  await once(child, 'exit');
  return identity;
}

function writeRecord(file: string, identity: ProcessIdentity, extra: Partial<LockRecord> = {}): LockRecord {
  const record: LockRecord = { ...identity, role: 'server', address: '127.0.0.1:50051', since: '2026-01-01T00:00:00.000Z', token: randomBytes(16).toString('hex'), ...extra };
  writeFileSync(file, JSON.stringify(record), { mode: 0o600 });
  return record;
}

const tokenIn = (file: string) => (readRecord(file) as LockRecord).token;

test('a second process is refused with a message naming the holder; once released, it gets the lock', async (t) => {
  const dir = tempDataDir(t);
  const [a, b] = await contenders(t, dir, 2);
  const held = await a.ask('go');
  if (held.event !== 'acquired') return t.fail(JSON.stringify(held));
  t.like(held.record, { pid: a.pid, host: hostname(), role: 'contender-0' });
  t.is(statSync(path.join(dir, LOCK)).mode & 0o777, 0o600);

  const refused = await b.ask('go');
  if (refused.event !== 'refused') return t.fail(JSON.stringify(refused));
  t.is(
    refused.message,
    `the embedded database under ${dir} is in use by pid ${a.pid} on host ${hostname()} (contender-0), since ${held.record.since}. Stop that process first; if it is gone for sure, remove ${path.join(dir, LOCK)}`,
  );
  t.is(tokenIn(path.join(dir, LOCK)), held.record.token, 'the refused process left the lock alone');
  t.deepEqual(readdirSync(dir), [LOCK], 'and left nothing behind');

  t.like(await a.ask('release'), { event: 'released' });
  t.deepEqual(readdirSync(dir), []);
  t.like(await b.ask('go'), { event: 'acquired', record: { pid: b.pid } });
});

test('a holder killed with SIGKILL is taken over at once', async (t) => {
  const dir = tempDataDir(t);
  const [a, b] = await contenders(t, dir, 2);
  t.like(await a.ask('go'), { event: 'acquired' });
  await a.kill();
  t.is(readRecord(path.join(dir, LOCK)) && (readRecord(path.join(dir, LOCK)) as LockRecord).pid, a.pid, 'the dead holder left its record');
  const started = performance.now();
  const took = await b.ask('go');
  const ms = performance.now() - started;
  t.like(took, { event: 'acquired', record: { pid: b.pid } });
  t.true(ms < 1000, `took ${ms.toFixed(0)} ms`);
  t.deepEqual(readdirSync(dir), [LOCK], 'no claim or temporary file is left');
});

test('a holder that exits without releasing (process.exit) leaves no lock behind', async (t) => {
  const dir = tempDataDir(t);
  const [a] = await contenders(t, dir, 1);
  t.like(await a.ask('go'), { event: 'acquired' });
  a.send('exit');
  await a.exited;
  t.deepEqual(readdirSync(dir), []);
});

test('a live pid with another start time is not the holder: its lock is stale', async (t) => {
  t.true(linux, 'needs /proc');
  const dir = tempDataDir(t);
  const file = path.join(dir, LOCK);
  const sleeper = spawn('sleep', ['30']);
  t.teardown(() => sleeper.kill('SIGKILL'));
  await once(sleeper, 'spawn');
  const live = identityOf(sleeper.pid!);

  // The same pid with its real start time: held.
  writeRecord(file, live);
  const err = await t.throwsAsync(lockDataDir(dir, LOCK, { role: 'test' }), { instanceOf: StartupError });
  t.regex(err!.message, new RegExp(`in use by pid ${sleeper.pid} on host `));

  // The pid of a process that started later than the one that wrote the record: reused.
  writeRecord(file, { ...live, startTime: String(Number(live.startTime) - 1) });
  const lock = await lockDataDir(dir, LOCK, { role: 'test' });
  t.teardown(() => lock.release());
  t.is(tokenIn(file), lock.record.token);
  t.is(lock.record.pid, process.pid);
});

test('a lock from before the host restarted is stale, even if its pid runs now', async (t) => {
  t.true(linux, 'needs /proc');
  const dir = tempDataDir(t);
  writeRecord(path.join(dir, LOCK), { ...thisProcess(), bootId: '00000000-0000-0000-0000-000000000000' });
  const lock = await lockDataDir(dir, LOCK, { role: 'test' });
  lock.release();
  t.deepEqual(readdirSync(dir), []);
});

test('a lock held on another host, or in another pid namespace, is refused: nothing here can tell whether it runs', async (t) => {
  const dir = tempDataDir(t);
  const file = path.join(dir, LOCK);
  const dead = await deadProcess(); // even a pid that is free here
  const other = writeRecord(file, { ...dead, host: 'elsewhere.example' });
  const err = await t.throwsAsync(lockDataDir(dir, LOCK, { role: 'test' }), { instanceOf: StartupError });
  t.is(
    err!.message,
    `the embedded database under ${dir} is locked by pid ${dead.pid} on host elsewhere.example (server, gRPC 127.0.0.1:50051), since 2026-01-01T00:00:00.000Z; ` +
      `it runs on host elsewhere.example and this is ${hostname()}, so whether that process still runs cannot be told from here. Stop it; if it is gone for sure, remove ${file}`,
  );
  t.is(tokenIn(file), other.token);

  writeRecord(file, { ...dead, pidNamespace: 'pid:[1]' });
  const ns = await t.throwsAsync(lockDataDir(dir, LOCK, { role: 'test' }), { instanceOf: StartupError });
  t.regex(ns!.message, /it runs in another pid namespace \(pid:\[1\], this is .*\): another container\?, so whether that process still runs cannot be told from here/);
  t.deepEqual(readdirSync(dir), [LOCK]);
});

test('a lock file that is not a record is refused with what to do', async (t) => {
  const dir = tempDataDir(t);
  writeFileSync(path.join(dir, LOCK), 'something else\n');
  const err = await t.throwsAsync(lockDataDir(dir, LOCK, { role: 'test' }), { instanceOf: StartupError });
  t.is(err!.message, `${path.join(dir, LOCK)} is not a lock record this version can read: if no filestore process uses ${dir}, remove ${path.join(dir, LOCK)}`);
});

test('a takeover killed halfway (its claim and temporary file left behind) does not block the next one', async (t) => {
  const dir = tempDataDir(t);
  const file = path.join(dir, LOCK);
  const stale = writeRecord(file, await deadProcess());
  const claim = writeRecord(`${file}.takeover-${stale.token}`, await deadProcess());
  writeRecord(`${file}.0123456789ab.tmp`, await deadProcess());
  writeRecord(`${file}.takeover-${stale.token}.takeover-${claim.token}`, await deadProcess());
  const lock = await lockDataDir(dir, LOCK, { role: 'test' });
  t.teardown(() => lock.release());
  t.is(tokenIn(file), lock.record.token);
  t.deepEqual(readdirSync(dir), [LOCK], 'the leftovers of dead processes are removed');
});

test('a claim held by a live process is left alone: a takeover in progress is waited for, then refused', async (t) => {
  const dir = tempDataDir(t);
  const file = path.join(dir, LOCK);
  const stale = writeRecord(file, await deadProcess());
  const claimer = writeRecord(`${file}.takeover-${stale.token}`, thisProcess(), { role: 'rollups:recompute', address: undefined });
  const started = performance.now();
  const err = await t.throwsAsync(lockDataDir(dir, LOCK, { role: 'test' }), { instanceOf: StartupError });
  t.true(performance.now() - started >= 2500, 'it waited for the takeover to finish');
  t.regex(err!.message, new RegExp(`this process, pid ${process.pid} on host .* \\(rollups:recompute\\), since .* is taking over the lock of a process that died`));
  t.is(tokenIn(file), stale.token);
  t.is(tokenIn(`${file}.takeover-${stale.token}`), claimer.token);
});

test('processes racing to take over a dead holder\'s lock, or to take a free one: exactly one wins', async (t) => {
  const dir = tempDataDir(t);
  const file = path.join(dir, LOCK);
  const racers = await contenders(t, dir, 4);
  const dead = await deadProcess();
  for (let round = 0; round < 30; round++) {
    const label = `round ${round} (${round % 3 === 2 ? 'free' : 'dead holder'})`;
    if (round % 3 !== 2) writeRecord(file, dead);
    const at = Date.now() + 100;
    for (const r of racers) r.send(`go ${at}`);
    const answers = await Promise.all(racers.map((r) => r.next()));
    const winners = answers.flatMap((a, i) => (a.event === 'acquired' ? [{ racer: racers[i], record: a.record }] : []));
    t.is(winners.length, 1, `${label}: ${JSON.stringify(answers)}`);
    const [winner] = winners;
    if (!winner) return;
    t.is(tokenIn(file), winner.record.token, label);
    for (const a of answers) {
      if (a.event === 'refused') t.regex(a.message, new RegExp(`in use by pid ${winner.racer.pid} `), label);
    }
    t.deepEqual(readdirSync(dir), [LOCK], `${label}: no claim or temporary file left`);
    t.like(await winner.racer.ask('release'), { event: 'released' });
  }
});

test('the lock file names the holder in JSON an operator can read', async (t) => {
  const dir = tempDataDir(t);
  const lock = await lockDataDir(dir, LOCK, { role: 'server', address: '127.0.0.1:7000' });
  t.teardown(() => lock.release());
  const json = JSON.parse(readFileSync(lock.file, 'utf8'));
  t.like(json, { pid: process.pid, host: hostname(), role: 'server', address: '127.0.0.1:7000' });
  t.true(Date.now() - Date.parse(json.since) < 60_000);
});
