// The compiled binaries started with bad settings, as an operator would: each problem is one line
// "filestore: <problem>" on stderr naming the setting, the exit code is 2, and no stack is printed.
// All but one of these processes fail at start; the read_only one serves and refuses writes.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import test from 'ava';
import { errorReason } from '../support/client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { REPO_ROOT, spawnServer } from '../support/server.js';

const PG = 'postgres://postgres@127.0.0.1:5432';
const dir = mkdtempSync(path.join(os.tmpdir(), 'filestore-startup-'));
let db: TestDatabase;

test.before(async () => {
  db = await createTestDatabase('pg');
});
test.after.always(async () => {
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

interface Failed {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
}

/** Runs `script` (a path under the repository) with only `env` (and PATH) until it exits. */
function run(env: Record<string, string>, script = 'dist/src/main.js', args: string[] = []): Promise<Failed> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, FILESTORE_DATA_DIR: mkdtempSync(path.join(dir, 'data-')), FILESTORE_LOG_LEVEL: 'warn', FILESTORE_GRPC_ADDR: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not exit within 30 s; stderr:\n${stderr}`));
    }, 30_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, lines: stderr.split('\n').filter(Boolean) });
    });
  });
}

/** Exit code 2, exactly `problems` as "filestore: …" lines, and nothing that looks like a stack. */
function explained(t: import('ava').ExecutionContext, r: Failed, problems: string[]): void {
  t.is(r.code, 2, `signal ${r.signal}; stderr:\n${r.stderr}`);
  t.deepEqual(r.lines, problems.map((p) => `filestore: ${p}`));
  t.notRegex(r.stderr, /^ {4}at /m);
}

test('a missing backends file', async (t) => {
  const missing = path.join(dir, 'no-such-backends.yaml');
  explained(t, await run({ FILESTORE_BACKENDS_PATH: missing }), [`FILESTORE_BACKENDS_PATH (${missing}): the file does not exist`]);
});

test('a malformed YAML backends file: the parser\'s line and column', async (t) => {
  const backends = file('malformed.yaml', 'backends:\n  - id: 1\n   name: one\n');
  explained(t, await run({ FILESTORE_BACKENDS_PATH: backends }), [
    `FILESTORE_BACKENDS_PATH (${backends}): not valid YAML at line 3, column 1: sequence item without - indicator`,
  ]);
});

test('a schema error: the index and the key, not 40 lines of ZodError', async (t) => {
  const backends = file('schema.yaml', 'backends:\n  - { id: 1, name: one, kind: local }\n');
  explained(t, await run({ FILESTORE_BACKENDS_PATH: backends }), [`FILESTORE_BACKENDS_PATH (${backends}): backends[0].root: required`]);
});

test('unknown keys and an unknown variable, all reported at once', async (t) => {
  const root = path.join(dir, 'unknown-key-root');
  mkdirSync(root);
  const backends = file('unknown-key.yaml', `backends:\n  - { id: 1, name: one, kind: local, root: ${root}, readonly: true }\n`);
  explained(t, await run({ FILESTORE_BACKENDS_PATH: backends, FILESTORE_GRPC_ADRR: '127.0.0.1:0' }), [
    'FILESTORE_GRPC_ADRR: unknown setting; did you mean FILESTORE_GRPC_ADDR?',
    `FILESTORE_BACKENDS_PATH (${backends}): backends[0].readonly: unknown key; did you mean readOnly?`,
  ]);
});

test('a backend root that does not exist is refused, and nothing is created', async (t) => {
  const mountPoint = path.join(dir, 'mnt');
  mkdirSync(mountPoint);
  const root = path.join(mountPoint, 'archive');
  const backends = file('missing-root.yaml', `backends:\n  - { id: 3, name: archive, kind: local, root: ${root} }\n`);
  explained(t, await run({ FILESTORE_BACKENDS_PATH: backends, DATABASE_URL: db.url! }), [
    `FILESTORE_BACKENDS_PATH (${backends}): backends[0] (id 3): root ${root} does not exist; mount it, create it, or set create: true`,
  ]);
  t.false(existsSync(root));
  t.deepEqual(readdirSync(mountPoint), []);
});

test('a short token is refused without being printed', async (t) => {
  const r = await run({ FILESTORE_TOKENS: 'ops:short' });
  explained(t, r, ['FILESTORE_TOKENS: entry 1 (principal ops): the token has 5 characters; tokens need at least 16']);
  t.false(r.stderr.includes('short'));
});

test('DATABASE_URL=not-a-url is refused as a setting, not reported as an unreachable database', async (t) => {
  explained(t, await run({ DATABASE_URL: 'not-a-url' }), ['DATABASE_URL: "not-a-url" is not a postgres:// or postgresql:// URL']);
});

test('an unknown database', async (t) => {
  const url = `${PG}/filestore_no_such_database`;
  explained(t, await run({ DATABASE_URL: url }), [
    `DATABASE_URL (${url}): database "filestore_no_such_database" does not exist; create it (createdb) or name an existing database in DATABASE_URL`,
  ]);
});

test('an unknown role', async (t) => {
  const url = 'postgres://filestore_no_such_role@127.0.0.1:5432/test';
  explained(t, await run({ DATABASE_URL: url }), [
    `DATABASE_URL (${url}): role "filestore_no_such_role" does not exist; check the user name in DATABASE_URL and the server's pg_hba.conf`,
  ]);
});

test('a database nobody listens for, with the password masked', async (t) => {
  const r = await run({ DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test' });
  explained(t, r, [
    'DATABASE_URL (postgres://postgres:***@127.0.0.1:1/test): cannot connect to 127.0.0.1:1: connection refused; check that PostgreSQL runs there and listens on that port',
  ]);
  t.false(r.stderr.includes('hunter2'));
});

test('sslmode against a server without SSL', async (t) => {
  const url = `${PG}/filestore_no_such_database?sslmode=verify-full`;
  explained(t, await run({ DATABASE_URL: url }), [
    `DATABASE_URL (${url}): the server does not support SSL connections; drop sslmode from DATABASE_URL or enable SSL on the server`,
  ]);
});

test('a port in use', async (t) => {
  const occupant = net.createServer();
  await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve));
  t.teardown(() => occupant.close());
  const addr = `127.0.0.1:${(occupant.address() as net.AddressInfo).port}`;
  explained(t, await run({ FILESTORE_GRPC_ADDR: addr, DATABASE_URL: db.url! }), [
    `FILESTORE_GRPC_ADDR (${addr}): cannot serve there: the port is in use by another process; stop it or choose another port (:0 picks a free one)`,
  ]);
});

test('the worker and the CLI report the same way', async (t) => {
  explained(t, await run({}, 'dist/src/worker-main.js'), [
    'a separate worker needs DATABASE_URL (PostgreSQL) and REDIS_URL (BullMQ) shared with the API servers; in the embedded mode `npm start` runs the workers in-process',
  ]);
  const url = `${PG}/filestore_no_such_database`;
  explained(t, await run({ DATABASE_URL: url }, 'bin/filestore.mjs', ['migrate']), [
    `DATABASE_URL (${url}): database "filestore_no_such_database" does not exist; create it (createdb) or name an existing database in DATABASE_URL`,
  ]);
  explained(t, await run({ FILESTORE_LOG_LEVEL: 'loud' }, 'bin/filestore.mjs', ['rollups:recompute']), [
    'FILESTORE_LOG_LEVEL: "loud" is not one of fatal, error, warn, info, debug, trace, silent',
  ]);
});

test('read_only (the proto\'s spelling) is honoured: the backend answers writes with the read-only error', async (t) => {
  const root = path.join(dir, 'read-only-root');
  mkdirSync(root);
  const backends = file('read-only.yaml', `backends:\n  - { id: 1, name: frozen, kind: local, root: ${root}, read_only: true }\n`);
  const dataDir = mkdtempSync(path.join(dir, 'data-'));
  const s = await spawnServer({ FILESTORE_DATA_DIR: dataDir, FILESTORE_GRPC_ADDR: '127.0.0.1:0', FILESTORE_BACKENDS_PATH: backends, DATABASE_URL: db.url! });
  t.teardown(() => s.kill('SIGTERM'));
  const err = await t.throwsAsync<ServiceError>(s.client.fs('createDirectory', { backendId: 1, path: 'new' }));
  t.is(err?.code, grpcStatus.PERMISSION_DENIED);
  t.is(errorReason(err!), 'BACKEND_READ_ONLY');
  t.deepEqual(readdirSync(root).filter((name) => name !== '.filestore'), []);
});
