// Opens the backend an entry of the backends file describes: the one place that knows every kind.
import type { BackendConfig } from '../config/backends-file.js';
import type { Backend } from './backend.js';
import { LocalBackend } from './local.js';

export interface BackendHooks {
  /** Fault injection for tests (src/commands/crash-points.ts). */
  crashPoint?: (name: string) => void;
}

export async function openBackend(config: BackendConfig, instanceId: string, hooks: BackendHooks = {}): Promise<Backend> {
  let backend: Backend;
  switch (config.kind) {
    case 'local':
      backend = new LocalBackend({ id: config.id, root: config.root, instanceId, create: config.create });
      break;
    case 's3': {
      // Loaded only when a backend is on S3: the AWS SDK costs a process several MiB of memory.
      const { S3Backend } = await import('./s3.js');
      backend = new S3Backend({
        id: config.id,
        bucket: config.bucket,
        prefix: config.prefix,
        region: config.region,
        endpoint: config.endpoint,
        forcePathStyle: config.forcePathStyle,
        instanceId,
        crashPoint: hooks.crashPoint,
      });
      break;
    }
  }
  await backend.open();
  return backend;
}
