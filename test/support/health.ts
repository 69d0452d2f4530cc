// Polls grpc.health.v1.Health/Check and keeps every answer, for tests that watch a server's health
// change while they break something under it.
import { credentials, loadPackageDefinition, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HealthSample {
  /** performance.now() when the check was sent. */
  at: number;
  /** SERVING, NOT_SERVING, UNKNOWN, or the gRPC status name of a failed check (e.g. DEADLINE_EXCEEDED). */
  status: string;
}

export interface HealthPoller {
  samples: HealthSample[];
  stop(): Promise<void>;
}

const grpcStatusName = (code: number) => grpcStatus[code] ?? `CODE_${code}`;

export function healthClient(address: string) {
  const pkg = loadPackageDefinition(loadSync(protoPath, { enums: String })) as any;
  return new pkg.grpc.health.v1.Health(address, credentials.createInsecure());
}

/** Checks `service` every `everyMs` (each check with a deadline of `timeoutMs`) until stop(). */
export function pollHealth(address: string, service = '', everyMs = 100, timeoutMs = 1000): HealthPoller {
  const client = healthClient(address);
  const samples: HealthSample[] = [];
  let stopping = false;
  const check = () =>
    new Promise<string>((resolve) =>
      client.check({ service }, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, res: { status: string }) =>
        resolve(err ? grpcStatusName(err.code) : res.status),
      ),
    );
  const loop = (async () => {
    while (!stopping) {
      const at = performance.now();
      samples.push({ at, status: await check() });
      await sleep(Math.max(0, at + everyMs - performance.now()));
    }
  })();
  return {
    samples,
    async stop() {
      stopping = true;
      await loop;
      client.close();
    },
  };
}
