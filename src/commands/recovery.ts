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
  stagingRemoved: number;
}

export async function recover(svc: Services): Promise<RecoveryReport> {
  const report: RecoveryReport = { resolved: [], stagingRemoved: 0 };
  for (const entry of await journal.pendingEntries(svc.db, svc.instanceId)) {
    const recoverer = recoverers[entry.command];
    if (recoverer) await recoverer(svc, entry);
    else await journal.markEnded(svc.db, entry.backendId, entry.id, 'ROLLED_BACK', null);
    const after = await journal.getEntry(svc.db, entry.id, entry.backendId);
    report.resolved.push({ id: entry.id, command: entry.command, status: after?.status ?? 'UNKNOWN' });
  }
  for (const { backend } of svc.backends.list()) {
    for (const key of await backend.listStaging()) {
      await backend.discard(key);
      report.stagingRemoved++;
    }
  }
  return report;
}
