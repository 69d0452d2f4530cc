// This process's lease: its instance id, held alive by an advisory lock in a session of its own
// (docs/decisions/004). The lease also tells the rest of the process whether the database can be
// reached: its session is the probe, and it reconnects (and re-takes the lock) when the database returns.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { newInstanceId } from '../config/instance-id.js';
import type { Database, Executor } from '../db/database.js';
import * as instances from '../db/instances-repo.js';
import { openSession, type Session } from '../db/session.js';
import { StartupError } from '../errors/startup-error.js';
import type { SQL } from 'drizzle-orm';

export interface LeaseOptions {
  /** FILESTORE_INSTANCE_ID, or null for a new id at each start. */
  requestedId: string | null;
  port: number;
  addr: string;
  /** PostgreSQL: the lease's own session. null: the embedded database, held by this process alone. */
  databaseUrl: string | null;
  /** How long after (re)taking the lock this process waits before it judges others dead. */
  graceMs: number;
  probeMs?: number;
  log: Logger;
}

const CONNECT_TIMEOUT_MS = 3_000;

export class Lease {
  private healthy = true;
  private heldSince = performance.now();
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ((healthy: boolean) => void)[] = [];
  private readonly fatalListeners: ((problem: string) => void)[] = [];

  private constructor(
    readonly id: string,
    private lockKey: number,
    private session: Session | null,
    private readonly db: Database,
    private readonly opts: LeaseOptions,
  ) {}

  static async acquire(db: Database, opts: LeaseOptions): Promise<Lease> {
    const info = { host: hostname(), pid: process.pid, addr: opts.addr };
    if (!opts.databaseUrl) {
      const id = opts.requestedId ?? newInstanceId(opts.port);
      const row = await instances.ensureInstance(db, id, info);
      await instances.claimInstance(db, id, row.lockKey, info);
      return new Lease(id, row.lockKey, null, db, opts);
    }
    const session = await openSession(opts.databaseUrl, CONNECT_TIMEOUT_MS);
    try {
      for (let attempt = 0; ; attempt++) {
        const id = opts.requestedId ?? newInstanceId(opts.port);
        const lockKey = await lockRow(session, id, info);
        if (lockKey !== null) {
          const lease = new Lease(id, lockKey, session, db, opts);
          lease.watch(session);
          return lease;
        }
        if (opts.requestedId || attempt >= 3) throw heldElsewhere(id, (await instances.getInstance(session, id))!);
      }
    } catch (err) {
      await session.close();
      throw err;
    }
  }

  get exclusive(): boolean {
    return this.opts.databaseUrl === null;
  }

  /** The database answers and this process holds its lock. */
  get isHealthy(): boolean {
    return this.healthy;
  }

  /**
   * Whether this process may take others for dead now. Right after the database came back, other
   * processes may not have re-taken their locks yet: wait out the grace period first.
   */
  canJudge(): boolean {
    return this.exclusive || (this.healthy && performance.now() - this.heldSince >= this.opts.graceMs);
  }

  /** SQL true where the owner (an instance id expression) is a live process. */
  alive(owner: SQL): SQL {
    return instances.ownerAlive(owner, this.id, this.exclusive);
  }

  /**
   * The executor for liveness queries. On PostgreSQL it is the lease's own session: an answer from it
   * proves the database did not restart since the lock was taken (a restart would have ended the
   * session), so an empty pg_locks after a restart is never read as "everyone is dead".
   */
  get executor(): Executor {
    return this.session ?? this.db;
  }

  onChange(listener: (healthy: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** Another process took this process's fixed id while its session was away: it must stop. */
  onFatal(listener: (problem: string) => void): void {
    this.fatalListeners.push(listener);
  }

  /** `keepRow`: this process leaves intents or staging behind; its row marks it dead to other processes' recovery. */
  async close(keepRow = false): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (!keepRow) await instances.deleteInstance(this.executor, this.id).catch(() => {});
    await this.session?.close();
  }

  private setHealthy(healthy: boolean): void {
    if (healthy === this.healthy) return;
    this.healthy = healthy;
    if (healthy) this.heldSince = performance.now();
    this.opts.log[healthy ? 'info' : 'error']({ instance: this.id }, healthy ? 'database reachable again; lease re-taken' : 'database unreachable: not serving until it returns');
    for (const l of this.listeners) l(healthy);
  }

  /** Probes the session; on its loss, reconnects and re-takes the lock. */
  private watch(session: Session): void {
    const probeMs = this.opts.probeMs ?? 2_000;
    const current = () => !this.closed && this.session === session;
    void session.ended.then(() => {
      if (current()) this.lost();
    });
    const probe = async () => {
      if (!current()) return;
      const ok = await instances.touchInstance(session, this.id, this.lockKey).catch(() => false);
      if (!current()) return;
      if (!ok) return this.lost();
      this.timer = setTimeout(probe, probeMs);
    };
    this.timer = setTimeout(probe, probeMs);
  }

  private lost(): void {
    if (this.closed || !this.healthy) return;
    clearTimeout(this.timer);
    this.setHealthy(false);
    void this.session?.close();
    const retry = async () => {
      if (this.closed) return;
      try {
        const session = await this.retake();
        if (this.closed) return void session.close();
        this.session = session;
        this.setHealthy(true);
        this.watch(session);
      } catch (err) {
        if (err instanceof StartupError) {
          this.opts.log.fatal({ instance: this.id, problem: err.message }, 'lease taken by another process: this process stops');
          for (const l of this.fatalListeners) l(err.message);
          return;
        }
        this.timer = setTimeout(retry, 250);
      }
    };
    this.timer = setTimeout(retry, 100);
  }

  private async retake(): Promise<Session> {
    const session = await openSession(this.opts.databaseUrl!, CONNECT_TIMEOUT_MS);
    try {
      const lockKey = await lockRow(session, this.id, { host: hostname(), pid: process.pid, addr: this.opts.addr });
      if (lockKey === null) throw heldElsewhere(this.id, (await instances.getInstance(session, this.id))!);
      this.lockKey = lockKey;
      return session;
    } catch (err) {
      await session.close();
      throw err;
    }
  }
}

/** Takes the lock of `id`'s row (made if missing) and claims the row; null if a live process holds it. */
async function lockRow(session: Session, id: string, info: instances.InstanceInfo): Promise<number | null> {
  for (;;) {
    const row = await instances.ensureInstance(session, id, info);
    if (!(await instances.tryLockInstance(session, row.lockKey))) return null;
    if (await instances.claimInstance(session, id, row.lockKey, info)) return row.lockKey;
    // The row went (a dead row's cleanup) or was made again with another key between the two steps.
    await instances.unlockInstance(session, row.lockKey);
  }
}

function heldElsewhere(id: string, row: instances.InstanceRow): StartupError {
  return new StartupError([
    `FILESTORE_INSTANCE_ID=${id} is in use by a live process (pid ${row.pid} on ${row.host}, serving ${row.addr}, since ${row.startedAt.toISOString()}): ` +
      'give every process its own id, or leave FILESTORE_INSTANCE_ID unset so that each start makes a unique one',
  ]);
}
