// An outbox event as the hub hands it out, for tests of the pure event code.
import type { EventRecord } from '../../src/events/types.js';

export function eventRecord(over: Partial<EventRecord> = {}): EventRecord {
  return {
    cursor: 1n,
    type: 'filestore.node.created',
    occurredAt: new Date(),
    journalId: 1,
    command: 'CreateDirectory',
    principal: 'p',
    backendId: 1,
    path: 'a/b',
    sourceBackendId: null,
    sourcePath: null,
    node: null,
    rollup: null,
    ...over,
  };
}
