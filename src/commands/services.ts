// What every command needs: the database, the backends, and the limits.
import type { Backend } from '../backends/backend.js';
import type { Database } from '../db/database.js';
import { invalidArgument, notFound } from '../errors/domain-error.js';
import type { RollupNotifier } from '../rollups/scheduler.js';
import type { JournalIds } from './journal-ids.js';
import type { Recoverer } from './journalled.js';
import type { StuckIntents } from './stuck-intents.js';

export interface BackendEntry {
  id: number;
  name: string;
  readOnly: boolean;
  backend: Backend;
}

export class BackendRegistry {
  private readonly byId = new Map<number, BackendEntry>();

  constructor(entries: BackendEntry[]) {
    for (const e of entries) this.byId.set(e.id, e);
  }

  get(id: number): BackendEntry {
    if (!id) throw invalidArgument('BACKEND_REQUIRED', 'backend_id is required (see ListBackends), or address the node by node_id');
    const entry = this.byId.get(id);
    if (!entry) throw notFound('BACKEND_NOT_FOUND', `backend ${id} is not configured; ListBackends shows the configured ones`);
    return entry;
  }

  list(): BackendEntry[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }
}

export interface Limits {
  maxUploadBytes: number;
  maxMetadataBytes: number;
  readChunkBytes: number;
}

/** Told after a command's transaction committed, with its last event's cursor (wakes the event hub). */
export interface CommitListener {
  committed(cursor: bigint): void;
}

export interface Services {
  db: Database;
  commits: CommitListener;
  rollups: RollupNotifier;
  backends: BackendRegistry;
  instanceId: string;
  /** Journal ids of this process's commands still running: the recovery sweep leaves their intents alone. */
  inFlight: Set<number>;
  journalIds: JournalIds;
  /** Intents of this process's commands that failed and could not be resolved at once (the database was away). */
  stuckIntents: StuckIntents<Recoverer>;
  limits: Limits;
}

/** Who is acting, as authenticated by the server. */
export interface Actor {
  principal: string;
}
