// `npm start`: serve until SIGTERM/SIGINT, then drain in-flight calls and exit.
import { setLogger } from '@grpc/grpc-js';
import pino from 'pino';
import { startApp, type App } from './app.js';
import { loadConfig } from './config/config.js';
import { exitOnStartupFailure } from './errors/exit-on-startup-failure.js';
import { stopOnSignals } from './shutdown.js';

async function start(): Promise<App> {
  const config = loadConfig();
  const log = pino({ level: config.logLevel });
  // grpc-js logs a failed bind to stderr, in a format of its own, besides rejecting with it: its
  // lines go into the log, so that stderr holds only the problems printed below.
  const grpcLog = log.child({ component: 'grpc-js' });
  setLogger({
    error: (...args) => grpcLog.error(args.join(' ')),
    info: (...args) => grpcLog.info(args.join(' ')),
    debug: (...args) => grpcLog.debug(args.join(' ')),
  });
  return startApp(config, log);
}

const app = await start().catch(exitOnStartupFailure);
stopOnSignals(app.log, 'draining', () => app.stop());
// Another process took this one's fixed instance id while its database session was away.
void app.lost.then(() => app.stop(0).finally(() => process.exit(1)));
