// `npm run worker` / `filestore worker`: run the workers until SIGTERM/SIGINT, then let active jobs finish.
import { loadConfig } from './config/config.js';
import { startWorker } from './worker.js';

const worker = await startWorker(loadConfig()).catch((err: Error) => {
  console.error(`filestore worker: ${err.message}`);
  process.exit(2);
});
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    worker.log.info({ signal }, 'stopping workers');
    worker.stop().then(
      () => process.exit(0),
      (err) => {
        worker.log.error({ err }, 'worker shutdown failed');
        process.exit(1);
      },
    );
  });
}
