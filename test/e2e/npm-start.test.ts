// `npm start` as an operator runs it: SIGTERM to the npm process must reach the server, which
// drains and exits, leaving no node process behind. npm forwards SIGTERM to the script's shell;
// unless the script execs node, the shell dies and node keeps serving as an orphan.
import test from 'ava';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestClient } from '../support/client.js';
import { makeTestEnv, REPO_ROOT } from '../support/server.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const answers = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) if (await cond()) return true;
  return cond();
}

/**
 * A copy of the package (package.json, sources, generated code, migrations; node_modules linked),
 * so that the build `npm start` runs writes its own dist/ and never rewrites the files that other
 * test files are spawning from the repository's dist/.
 */
async function packageCopy(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'filestore-npm-start-'));
  for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'gen', 'migrations']) {
    await cp(path.join(REPO_ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

test('SIGTERM to `npm start` drains the server and leaves no node process', async (t) => {
  const pkg = await packageCopy();
  const env = await makeTestEnv();
  const npm = spawn('npm', ['start'], {
    cwd: pkg,
    // Readiness is the "filestore serving" info line; makeTestEnv logs warnings only.
    env: { ...process.env, ...env.env, FILESTORE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => npm.once('exit', (code, signal) => resolve([code, signal])));
  let server: { pid: number; port: number } | undefined;
  try {
    server = await new Promise<{ pid: number; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not serve in 60 s:\n${output.join('\n')}`)), 60_000);
      for (const stream of [npm.stdout, npm.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          output.push(line);
          if (!line.includes('filestore serving')) return;
          const { pid, port } = JSON.parse(line) as { pid: number; port: number };
          clearTimeout(timer);
          resolve({ pid, port });
        });
      }
      void exited.then(([code, signal]) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited (${code ?? signal}) before serving:\n${output.join('\n')}`));
      });
    });
    const client = new TestClient(`127.0.0.1:${server.port}`);
    const listed = await client.fs('listBackends', {});
    client.close();
    t.is(listed.backends.length, 1, 'the server answers before the signal');
    t.not(server.pid, npm.pid, 'node is a child of npm');

    npm.kill('SIGTERM');
    const [code, signal] = await Promise.race([exited, sleep(20_000).then(() => [null, null] as const)]);
    t.is(code, 0, `npm exits 0 once the server drained (signal ${signal}):\n${output.join('\n')}`);
    const { pid, port } = server;
    t.true(
      output.some((l) => l.includes('"draining"') && l.includes('SIGTERM') && l.includes(`"pid":${pid}`)),
      `the server logged its drain:\n${output.join('\n')}`,
    );
    t.true(await until(() => !alive(pid), 10_000), `node process ${pid} is gone`);
    t.false(await answers(port), `port ${port} no longer answers`);
  } finally {
    // Whatever failed above, leave nothing running: the server by its own pid, then npm.
    if (server && alive(server.pid)) process.kill(server.pid, 'SIGKILL');
    if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    await env.cleanup();
    await rm(pkg, { recursive: true, force: true });
  }
});
