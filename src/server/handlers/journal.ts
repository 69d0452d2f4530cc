import * as queries from '../../commands/queries.js';
import type { JournalServiceServer } from '../../../gen/filestore/v1/journal_service.js';
import { unary, type HandlerContext } from '../call.js';
import { journalStatusFromWire, journalToWire } from '../mappers.js';

export function journalHandlers(ctx: HandlerContext): JournalServiceServer {
  return {
    getJournalEntry: unary(ctx, async (req) => ({ entry: journalToWire(await queries.getJournalEntry(ctx.svc, req.id)) })),
    listJournalEntries: unary(ctx, async (req) => {
      const page = await queries.listJournalEntries(ctx.svc, {
        backendId: req.backendId,
        pathPrefix: req.pathPrefix,
        command: req.command,
        status: journalStatusFromWire(req.status),
        since: req.since,
        until: req.until,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { entries: page.entries.map(journalToWire), nextPageToken: page.nextPageToken };
    }),
  };
}
