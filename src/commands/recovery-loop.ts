// The periodic recovery sweep: every interval, and soon after the database comes back.
import type { Logger } from 'pino';
import type { Lease } from '../lease/lease.js';
import { recover, type RecoveryReport } from './recovery.js';
import type { Services } from './services.js';

export interface RecoveryLoop {
  /** One sweep now (tests, and after the database returns); resolves with its report. */
  sweep(): Promise<RecoveryReport | null>;
  stop(): Promise<void>;
}

export function logReport(log: Logger, report: RecoveryReport, what: string): void {
  if (report.resolved.length || report.stagingRemoved) log.warn(report, what);
  if (report.unresolved.length) log.error({ unresolved: report.unresolved }, 'some commands left in flight could not be resolved; they stay PENDING');
}

export function startRecoveryLoop(
  svc: Services,
  lease: Lease,
  intervalMs: number,
  log: Logger,
  onResolved: () => void,
): RecoveryLoop {
  let running: Promise<RecoveryReport | null> | null = null;
  let stopped = false;
  const sweep = (): Promise<RecoveryReport | null> => {
    if (stopped || !lease.isHealthy) return Promise.resolve(null);
    running ??= recover(svc, lease, { startup: false })
      .then((report) => {
        logReport(log, report, 'recovered commands left in flight by a failed or dead process');
        if (report.resolved.length) onResolved();
        return report;
      })
      .catch((err) => {
        log.warn({ err }, 'recovery sweep failed; the next one retries');
        return null;
      })
      .finally(() => (running = null));
    return running;
  };
  const timer = setInterval(() => void sweep(), intervalMs);
  timer.unref();
  // At once for this process's intents stuck by the outage; own PENDING entries wait OWN_STUCK_AFTER_MS,
  // others' the lease's grace period.
  lease.onChange((healthy) => {
    if (healthy) for (const ms of [0, 6_000, 12_000]) setTimeout(() => void sweep(), ms).unref();
  });
  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
