// Which events a subscriber asked for. Pure, so it can be tested and fuzzed on its own.
import { invalidArgument } from '../errors/domain-error.js';
import { isSameOrDescendant, validatePath } from '../paths/index.js';
import { EVENT_TYPES, HEARTBEAT, type EventRecord } from './types.js';

export interface EventFilter {
  /** null: every type. */
  types: ReadonlySet<string> | null;
  /** 0: every backend. */
  backendId: number;
  /** '': everything. Matches the path itself and what lies below it. */
  pathPrefix: string;
}

const KNOWN = new Set<string>(EVENT_TYPES);

export function parseFilter(req: { eventTypes: string[]; backendId: number; pathPrefix: string }): EventFilter {
  const types = new Set<string>();
  for (const t of req.eventTypes) {
    if (t === HEARTBEAT) continue; // heartbeats are always sent
    if (!KNOWN.has(t)) {
      throw invalidArgument('EVENT_TYPE_UNKNOWN', `event type "${t.slice(0, 80)}" is unknown; known types: ${EVENT_TYPES.join(', ')}`);
    }
    types.add(t);
  }
  if (req.backendId < 0) throw invalidArgument('BACKEND_ID_INVALID', 'backend_id must be positive, or 0 for every backend');
  const pathPrefix = req.pathPrefix === '' ? '' : validatePath(req.pathPrefix);
  return { types: types.size ? types : null, backendId: req.backendId, pathPrefix };
}

/** A move or copy matches a prefix by where the node went or where it came from. */
export function matches(f: EventFilter, e: EventRecord): boolean {
  if (f.types && !f.types.has(e.type)) return false;
  if (f.backendId && e.backendId !== f.backendId && e.sourceBackendId !== f.backendId) return false;
  if (!f.pathPrefix) return true;
  const inBackend = (backendId: number | null) => !f.backendId || backendId === f.backendId;
  return (
    (inBackend(e.backendId) && isSameOrDescendant(e.path, f.pathPrefix)) ||
    (e.sourcePath !== null && inBackend(e.sourceBackendId ?? e.backendId) && isSameOrDescendant(e.sourcePath, f.pathPrefix))
  );
}
