// Servers for tests: in-process (startTestServer) or the real binary in a child process (spawnServer).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { startApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { TestClient } from './client.js';
import { createTestDatabase, type TestDatabase, type TestDbKind } from './database.js';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export interface TestServer {
  app: App;
  client: TestClient;
  dataDir: string;
  /** The local root of backend 1. */
  root: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

export interface TestEnv {
  dataDir: string;
  db: TestDatabase;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** `kind`: the database, when a test needs one kind whatever the suite's (default: FILESTORE_TEST_DB's). */
export async function makeTestEnv(extra: Record<string, string> = {}, kind?: TestDbKind): Promise<TestEnv> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'filestore-test-'));
  const db = await createTestDatabase(kind);
  const env: Record<string, string> = {
    FILESTORE_DATA_DIR: dataDir,
    FILESTORE_GRPC_ADDR: '127.0.0.1:0',
    FILESTORE_LOG_LEVEL: 'warn',
    FILESTORE_INSTANCE_ID: 'test',
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    ...extra,
  };
  return {
    dataDir,
    db,
    env,
    async cleanup() {
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** `adjust`: a change to the loaded configuration that the environment cannot express. */
export async function startTestServer(extra: Record<string, string> = {}, adjust: (c: Config) => Config = (c) => c): Promise<TestServer> {
  const testEnv = await makeTestEnv(extra);
  const app = await startApp(adjust(loadConfig(testEnv.env)), pino({ level: 'warn' }));
  const client = new TestClient(`127.0.0.1:${app.port}`, extra.FILESTORE_TOKENS?.split(',')[0]?.split(':')[1]);
  return {
    app,
    client,
    dataDir: testEnv.dataDir,
    root: path.join(testEnv.dataDir, 'data'),
    env: testEnv.env,
    async close() {
      client.close();
      await app.stop(2000);
      await testEnv.cleanup();
    },
  };
}

export interface SpawnedServer {
  child: ChildProcess;
  port: number;
  client: TestClient;
  /** Lines the server logged. */
  output: string[];
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the compiled server `node dist/src/main.js` (what npm start runs) with `env` and waits for it to serve. */
export async function spawnServer(env: Record<string, string>, timeoutMs = 60_000): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/main.js')], {
    cwd: REPO_ROOT,
    // Readiness is the "filestore serving" info line: never log less than info (makeTestEnv sets warn).
    env: { ...process.env, ...env, FILESTORE_LOG_LEVEL: ['debug', 'trace'].includes(env.FILESTORE_LOG_LEVEL) ? env.FILESTORE_LOG_LEVEL : 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output.join('\n')}`)), timeoutMs);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        const m = /"port":(\d+)/.exec(line);
        if (m && line.includes('filestore serving')) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output.join('\n')}`));
    });
  });
  const client = new TestClient(`127.0.0.1:${port}`);
  return {
    child,
    port,
    client,
    output,
    async kill(signal = 'SIGKILL') {
      client.close();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface SpawnedWorker {
  child: ChildProcess;
  output: string[];
  /** Resolves with the exit code, or the signal that ended it. */
  exited: Promise<number | NodeJS.Signals | null>;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
}

/** Starts `node dist/src/worker-main.js` (what npm run worker runs) and waits until its workers run. */
export async function spawnWorker(env: Record<string, string>, timeoutMs = 60_000): Promise<SpawnedWorker> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/worker-main.js')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, FILESTORE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in ${timeoutMs} ms:\n${output.join('\n')}`)), timeoutMs);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        if (line.includes('filestore workers running')) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before it ran:\n${output.join('\n')}`));
    });
  });
  return {
    child,
    output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
