// A process that contends for a data directory's lock, driven by lines on stdin (for
// test/db/data-dir-lock.test.ts): `go [at]` tries to take it (at that Date.now(), so that several
// processes try at the same instant), `release` gives it back, `exit` ends the process without
// releasing. Each answer is one JSON line on stdout.
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { lockDataDir, type DataDirLock } from '../../src/db/data-dir-lock.js';
import { isStartupError } from '../../src/errors/startup-error.js';

const [dataDir, role] = process.argv.slice(2);
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
let lock: DataDirLock | undefined;

createInterface({ input: process.stdin }).on('line', async (line) => {
  const [command, at] = line.split(' ');
  if (command === 'go') {
    if (at) {
      await sleep(Math.max(0, Number(at) - Date.now() - 5));
      while (Date.now() < Number(at)); // the last milliseconds on the CPU, not in the timer queue
    }
    try {
      lock = await lockDataDir(dataDir, 'pglite.lock', { role });
      say({ event: 'acquired', record: lock.record });
    } catch (err) {
      if (!isStartupError(err)) throw err;
      say({ event: 'refused', message: err.message });
    }
  } else if (command === 'release') {
    lock?.release();
    lock = undefined;
    say({ event: 'released' });
  } else if (command === 'exit') {
    process.exit(0);
  }
});
say({ event: 'ready', pid: process.pid });
