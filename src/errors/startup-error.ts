// A problem that stops a process from starting (a bad setting, a held lock, a port in use): printed
// as its message alone, one line per problem, and the process exits with code 2. No stack: the
// message names what to change.
export class StartupError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'StartupError';
  }
}

export function isStartupError(err: unknown): err is StartupError {
  return err instanceof StartupError;
}
