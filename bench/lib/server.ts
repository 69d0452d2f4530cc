// The real server as a child process: `node dist/src/main.js` (what `npm start` runs), on a loopback port.
import { settings } from './env.js';
import { serve, type Served } from './proc.js';

/** `databaseUrl` null: the embedded PGlite default. `extra`: more environment (rollups, Redis, queue prefix). */
export function realServer(dataDir: string, databaseUrl: string | null, extra: Record<string, string> = {}): Promise<Served> {
  return serve(
    'server',
    'dist/src/main.js',
    {
      FILESTORE_DATA_DIR: dataDir,
      FILESTORE_GRPC_ADDR: '127.0.0.1:0',
      FILESTORE_LOG_LEVEL: 'info', // the "filestore serving" line carries the port
      FILESTORE_INSTANCE_ID: 'bench',
      FILESTORE_READ_CHUNK_BYTES: String(settings.chunkBytes), // download in the same 1 MiB chunks as the twin
      FILESTORE_SHUTDOWN_GRACE_MS: '2000',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ...extra,
    },
    /"port":(\d+).*filestore serving/,
  );
}
