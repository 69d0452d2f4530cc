// On start: resolve this instance's commands left PENDING by a crash (roll forward what the
// backend shows as done, roll back the rest), then remove staging leftovers.
import * as journal from '../db/journal-repo.js';
import type { JournalRecord } from '../db/records.js';
import { recoverCopyNode } from './copy-node.js';
import { recoverCreateDirectory } from './create-directory.js';
import { recoverDeleteNode } from './delete-node.js';
import { recoverMoveNode } from './move-node.js';
import type { Services } from './services.js';
import { recoverUpdateMetadata } from './update-metadata.js';
import { recoverWriteFile } from './write-file.js';

const recoverers: Record<string, (svc: Services, e: JournalRecord) => Promise<void>> = {
  CreateDirectory: recoverCreateDirectory,
  WriteFile: recoverWriteFile,
  MoveNode: recoverMoveNode,
  CopyNode: recoverCopyNode,
  DeleteNode: recoverDeleteNode,
  UpdateNodeMetadata: recoverUpdateMetadata,
};

export interface RecoveryReport {
  resolved: { id: number; command: string; status: string }[];
  /** Entries recovery could not resolve: left PENDING (with their staging) for the next start or an operator. */
  unresolved: { id: number; command: string; error: string }[];
  stagingRemoved: number;
}

/** Staging keys that entries still PENDING may need. */
function stagingKeysOf(entries: JournalRecord[]): Set<string> {
  const keys = entries.flatMap((e) => [e.plan.staging_key, e.plan.trash_key]).filter((k): k is string => typeof k === 'string');
  return new Set(keys);
}

export async function recover(svc: Services): Promise<RecoveryReport> {
  const report: RecoveryReport = { resolved: [], unresolved: [], stagingRemoved: 0 };
  const stillPending: JournalRecord[] = [];
  for (const entry of await journal.pendingEntries(svc.db, svc.instanceId)) {
    try {
      const recoverer = recoverers[entry.command];
      if (recoverer) await recoverer(svc, entry);
      else await journal.markEnded(svc.db, entry.backendId, entry.id, 'ROLLED_BACK', null);
      const after = await journal.getEntry(svc.db, entry.id, entry.backendId);
      report.resolved.push({ id: entry.id, command: entry.command, status: after?.status ?? 'UNKNOWN' });
    } catch (err) {
      // One entry that cannot be resolved (its backend gone from the configuration, a path now behind
      // a symlink) must not keep the service down: it stays PENDING and is reported.
      stillPending.push(entry);
      report.unresolved.push({ id: entry.id, command: entry.command, error: (err as Error).message });
    }
  }
  const keep = stagingKeysOf(stillPending);
  for (const { backend } of svc.backends.list()) {
    for (const key of await backend.listStaging()) {
      if (keep.has(key)) continue;
      await backend.discard(key);
      report.stagingRemoved++;
    }
  }
  return report;
}
