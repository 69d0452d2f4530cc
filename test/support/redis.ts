// A private redis-server for tests that stop and restart Redis (never the machine's shared Redis).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A port nothing listens on right now. */
export async function sparePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Sends one inline command to 127.0.0.1:`port` and returns the first reply line (simple string) or
 * bulk string; null when nothing answers within `timeoutMs`.
 */
export function redisCommand(port: number, command: string, timeoutMs = 500): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = Buffer.alloc(0);
    const finish = (value: string | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (d) => {
      reply = Buffer.concat([reply, d]);
      const eol = reply.indexOf('\r\n');
      if (eol < 0) return;
      const head = reply.subarray(0, eol).toString();
      if (head[0] !== '$') return finish(head);
      const len = Number(head.slice(1));
      if (len < 0) return finish('');
      if (reply.length >= eol + 2 + len) finish(reply.subarray(eol + 2, eol + 2 + len).toString());
    });
    socket.on('error', () => finish(null));
  });
}

/** The pid of the redis-server answering on `port`, or null if none answers. */
export async function redisPid(port: number): Promise<number | null> {
  const info = await redisCommand(port, 'INFO server');
  const m = info ? /process_id:(\d+)/.exec(info) : null;
  return m ? Number(m[1]) : null;
}

export interface TestRedis {
  port: number;
  url: string;
  /** Lines redis-server printed, across restarts. */
  output: string[];
  /** SIGKILL (no shutdown, no save); resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts redis-server again on the same port and waits until it answers. */
  restart(): Promise<void>;
  /** Kills the process if it runs and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server --port <spare> --save '' --appendonly no` in a temp directory and waits until
 * it answers (as itself: INFO's process_id is its pid).
 */
export async function startRedis(timeoutMs = 10_000): Promise<TestRedis> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisOn(await sparePort(), timeoutMs);
    } catch (err) {
      // The spare port can be taken by someone else between our probe and redis-server's bind.
      if (attempt >= 3 || !/exited/.test((err as Error).message)) throw err;
    }
  }
}

async function startRedisOn(port: number, timeoutMs: number): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'filestore-redis-'));
  const output: string[] = [];
  let child: ChildProcess | null = null;

  const running = () => !!child && child.exitCode === null && child.signalCode === null;

  async function launch(): Promise<void> {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    for (const s of [proc.stdout!, proc.stderr!]) s.on('data', (d) => output.push(...d.toString().split('\n').filter(Boolean)));
    let spawnError: Error | null = null;
    proc.once('error', (err) => (spawnError = err));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (spawnError) throw new Error(`cannot start redis-server: ${(spawnError as Error).message}`);
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`redis-server on port ${port} exited (${proc.exitCode ?? proc.signalCode}):\n${output.join('\n')}`);
      }
      // Our process, not another Redis that took the port first (then ours exits: bind failed).
      if ((await redisPid(port)) === proc.pid) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer in ${timeoutMs} ms:\n${output.join('\n')}`);
      await sleep(20);
    }
  }

  async function kill(): Promise<void> {
    const proc = child;
    if (!proc || !running()) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }

  try {
    await launch();
  } catch (err) {
    await kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    output,
    kill,
    async restart() {
      if (running()) throw new Error('redis-server is still running');
      await launch();
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The machine's shared Redis, for tests that use BullMQ queues under a prefix of their own. */
export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A queue prefix no other test uses. */
export const uniquePrefix = (what: string) => `fstest-${what}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** Removes every key under `prefix` (a test's BullMQ queues) from the shared Redis. */
export async function deleteKeys(prefix: string, url = SHARED_REDIS_URL): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
