// `npm run worker` / `filestore worker`: run the workers until SIGTERM/SIGINT, then let active jobs finish.
import { loadConfig } from './config/config.js';
import { exitOnStartupFailure } from './errors/exit-on-startup-failure.js';
import { stopOnSignals } from './shutdown.js';
import { startWorker } from './worker.js';

const start = async () => startWorker(loadConfig());

const worker = await start().catch(exitOnStartupFailure);
stopOnSignals(worker.log, 'stopping workers', () => worker.stop());
