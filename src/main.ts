// `npm start`: serve until SIGTERM/SIGINT, then drain in-flight calls and exit.
import { startApp } from './app.js';
import { loadConfig } from './config/config.js';

const config = loadConfig();
const app = await startApp(config);
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'draining');
    app.stop().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
