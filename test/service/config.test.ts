// Settings that cannot work together are refused at start, with a message that says what to set.
import test from 'ava';
import { loadConfig } from '../../src/config/config.js';

test('FILESTORE_WORKERS=off without a shared queue is refused: nothing would ever run the jobs', (t) => {
  t.throws(() => loadConfig({ FILESTORE_WORKERS: 'off' }), { message: /FILESTORE_WORKERS=off needs REDIS_URL/ });
  t.throws(() => loadConfig({ FILESTORE_WORKERS: 'off', REDIS_URL: 'inline' }), { message: /needs REDIS_URL/ });
  t.false(loadConfig({ FILESTORE_WORKERS: 'off', REDIS_URL: 'redis://127.0.0.1:6379' }).jobs.runWorkers);
});

test('REDIS_URL=inline means no Redis: jobs and events stay in the process', (t) => {
  t.is(loadConfig({ REDIS_URL: 'inline' }).redisUrl, null);
  t.is(loadConfig({}).redisUrl, null);
  t.true(loadConfig({}).jobs.runWorkers);
});
