// Whether calls are taken now. Until start-up recovery is done, while the database is unreachable and
// while draining, calls fail at once with UNAVAILABLE (and health says NOT_SERVING), so that clients
// retry elsewhere or later instead of waiting on a server that cannot answer.
import { unavailable } from '../errors/domain-error.js';

export type ServingState = 'starting' | 'serving' | 'database-down' | 'draining';

export class ServingGate {
  state: ServingState = 'starting';

  check(): void {
    switch (this.state) {
      case 'serving':
        return;
      case 'starting':
        throw unavailable('SERVER_STARTING', 'the server is starting (resolving commands left in flight); retry in a moment');
      case 'database-down':
        throw unavailable('DATABASE_UNAVAILABLE', 'the database is unreachable; retry later');
      case 'draining':
        throw unavailable('SERVER_SHUTTING_DOWN', 'this server is shutting down; retry on another instance');
    }
  }
}
