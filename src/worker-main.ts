// `npm run worker` / `filestore worker`: run the workers until SIGTERM/SIGINT, then let active jobs finish.
import { loadConfig } from './config/config.js';
import { stopOnSignals } from './shutdown.js';
import { startWorker } from './worker.js';

const worker = await startWorker(loadConfig()).catch((err: Error) => {
  console.error(`filestore worker: ${err.message}`);
  process.exit(2);
});
stopOnSignals(worker.log, 'stopping workers', () => worker.stop());
