// A keyed retry of a command that could have joined a group commit leaves nothing behind for crash
// recovery: no open intent at a graceful stop, and no entry resolved again after the restart
// (docs/decisions/008: the group writes every member's intent, also for those it hands back).
import test from 'ava';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { TestClient } from '../support/client.js';
import { makeTestEnv } from '../support/server.js';
import { journalAll, statusName } from '../e2e/helpers.js';

test('keyed retries of WriteFile and CreateDirectory replay, and a restart resolves nothing', async (t) => {
  const env = await makeTestEnv();
  t.teardown(() => env.cleanup());
  let app = await startApp(loadConfig(env.env), pino({ level: 'warn' }));
  let c = new TestClient(`127.0.0.1:${app.port}`);
  await c.fs('createDirectory', { backendId: 1, path: 'd' });
  const w1 = await c.write({ path: 'd/f.txt', idempotencyKey: 'k1' }, Buffer.from('hello'));
  const w2 = await c.write({ path: 'd/f.txt', idempotencyKey: 'k1' }, Buffer.from('hello'));
  const m1 = await c.fs('createDirectory', { backendId: 1, path: 'd/x', parents: true, idempotencyKey: 'k2' });
  const m2 = await c.fs('createDirectory', { backendId: 1, path: 'd/x', parents: true, idempotencyKey: 'k2' });
  t.deepEqual([w2.idempotentReplay, m2.idempotentReplay], [true, true]);
  t.deepEqual([w2.journalId, m2.journalId], [w1.journalId, m1.journalId]);
  c.close();
  await app.stop(2000);
  const intents = path.join(env.dataDir, 'data', '.filestore', 'intents');
  t.deepEqual(await readdir(intents), [], 'a graceful stop leaves no intent open');

  app = await startApp(loadConfig(env.env), pino({ level: 'warn' }));
  t.teardown(() => app.stop(2000));
  c = new TestClient(`127.0.0.1:${app.port}`);
  t.teardown(() => c.close());
  t.is(Number((await c.fs('getNode', { backendId: 1, path: 'd/f.txt' })).node.version), 1, 'the retry did not become a new version');
  const { entries } = await journalAll(c, { pathPrefix: 'd' });
  t.deepEqual(entries.map((e) => `${e.command} ${e.path} ${statusName(e.status)}`).sort(), [
    'CreateDirectory d SUCCEEDED',
    'CreateDirectory d/x SUCCEEDED',
    'WriteFile d/f.txt SUCCEEDED',
  ]);
});
