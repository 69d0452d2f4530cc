// `npm start`: serve until SIGTERM/SIGINT, then drain in-flight calls and exit.
import { startApp } from './app.js';
import { loadConfig } from './config/config.js';
import { stopOnSignals } from './shutdown.js';

const app = await startApp(loadConfig());
stopOnSignals(app.log, 'draining', () => app.stop());
