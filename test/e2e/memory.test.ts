// The 1 GiB memory test on the default local backend (memory-suite.ts).
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { memorySuite } from './memory-suite.js';

memorySuite({
  name: 'a local backend',
  setup: async () => ({}),
  storedSize: async (env, p) => (await stat(path.join(env.dataDir, 'data', p))).size,
});
