import test from 'ava';
import { InlineQueue, openQueue } from '../../src/jobs/index.js';
import { queueContract } from './queue-contract.js';

queueContract('inline', async (retry, onFailed) => new InlineQueue({ retry, onFailed }));

test('openQueue: no Redis URL, or "inline", gives the in-process queue', async (t) => {
  for (const redisUrl of [null, 'inline']) {
    const q = await openQueue({ redisUrl, prefix: 'unused' });
    t.is(q.kind, 'inline');
    await q.close();
  }
});
