// SIGTERM/SIGINT: run `stop` once, then exit 0 (or 1 if stopping failed).
import type { Logger } from 'pino';

export function stopOnSignals(log: Logger, what: string, stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, what);
      stop().then(
        () => process.exit(0),
        (err) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}
