// How the entry points (server, worker, CLI) end when they cannot start: the explained problems
// as "filestore: <problem>" lines and exit code 2; anything unexplained is a bug, so its stack and 1.
import { describeStartupError } from './describe-startup-error.js';

export function exitOnStartupFailure(err: unknown): never {
  const problems = describeStartupError(err);
  if (!problems) {
    console.error(err);
    process.exit(1);
  }
  for (const problem of problems) process.stderr.write(`filestore: ${problem}\n`);
  process.exit(2);
}
