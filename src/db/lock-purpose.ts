// What the lock file says its holder is, read from the command line: the callers that open the
// embedded database (the server, the CLI verbs) do not say it themselves.
import path from 'node:path';
import type { LockPurpose } from './data-dir-lock.js';

export function purposeOfThisProcess(argv = process.argv, env = process.env): LockPurpose {
  const script = argv[1] ?? '';
  const base = path.basename(script).replace(/\.(js|mjs|ts)$/, '');
  const isCli = base === 'filestore' || (base === 'main' && path.basename(path.dirname(script)) === 'cli');
  const verb = isCli ? (argv.slice(2).find((a) => !a.startsWith('-')) ?? 'filestore') : undefined;
  const role = verb === 'serve' || (!isCli && base === 'main') ? 'server' : verb ?? (base || 'node');
  // The configured address: with port 0 the port the server got is in its log.
  return role === 'server' ? { role, address: env.FILESTORE_GRPC_ADDR || '127.0.0.1:50051 (the default)' } : { role };
}
