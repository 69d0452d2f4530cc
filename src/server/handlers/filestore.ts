// FileStoreService: wire ↔ domain; every rule lives in src/commands.
import type { sendUnaryData, ServerReadableStream, ServerWritableStream } from '@grpc/grpc-js';
import { copyNodeCommand } from '../../commands/copy-node.js';
import { createDirectoryCommand } from '../../commands/create-directory.js';
import { deleteNodeCommand } from '../../commands/delete-node.js';
import { moveNodeCommand } from '../../commands/move-node.js';
import * as queries from '../../commands/queries.js';
import { updateMetadataCommand } from '../../commands/update-metadata.js';
import { writeFileCommand, type WriteFileInput } from '../../commands/write-file.js';
import { invalidArgument, unimplemented } from '../../errors/domain-error.js';
import type {
  FileStoreServiceServer,
  ReadFileRequest,
  ReadFileResponse,
  WalkTreeRequest,
  WalkTreeResponse,
  WriteFileHeader,
  WriteFileRequest,
  WriteFileResponse,
} from '../../../gen/filestore/v1/filestore_service.js';
import { authenticate, unary, type HandlerContext } from '../call.js';
import { backendToWire, nodeToWire, resultToWire, snapshotToWire } from '../mappers.js';
import { toServiceError } from '../status.js';

function headerInput(h: WriteFileHeader): WriteFileInput {
  return {
    backendId: h.backendId,
    path: h.path,
    overwrite: h.overwrite,
    expectedVersion: h.expectedVersion,
    sha256: h.sha256,
    metadata: h.metadata,
    idempotencyKey: h.idempotencyKey,
    parents: h.parents,
  };
}

/** The chunks after the header; a second header is refused. */
async function* chunksAfterHeader(messages: AsyncIterator<WriteFileRequest>): AsyncGenerator<Uint8Array> {
  for (let next = await messages.next(); !next.done; next = await messages.next()) {
    if (next.value.header) throw invalidArgument('HEADER_REPEATED', 'send the header once, as the first message');
    if (next.value.chunk?.length) yield next.value.chunk;
  }
}

async function writeFile(ctx: HandlerContext, call: ServerReadableStream<WriteFileRequest, WriteFileResponse>) {
  const actor = authenticate(ctx, call.metadata);
  const messages = call[Symbol.asyncIterator]() as AsyncIterator<WriteFileRequest>;
  const first = await messages.next();
  if (first.done) throw invalidArgument('HEADER_REQUIRED', 'the stream was empty; send a header, then the chunks');
  if (!first.value.header) throw invalidArgument('CHUNK_BEFORE_HEADER', 'the first message must be the header');
  const result = await writeFileCommand(ctx.svc, actor, headerInput(first.value.header), chunksAfterHeader(messages));
  return resultToWire(result);
}

/** Waits until the stream wants more, or the client has gone (then the loop ends on `call.cancelled`). */
function drainedOrGone<Req, Res>(call: ServerWritableStream<Req, Res>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      resolve();
    };
    call.once('drain', done);
    call.once('cancelled', done);
    call.once('close', done);
  });
}

async function readFile(ctx: HandlerContext, call: ServerWritableStream<ReadFileRequest, ReadFileResponse>) {
  authenticate(ctx, call.metadata);
  const { node, content } = await queries.openFile(ctx.svc, call.request);
  call.on('cancelled', () => content.destroy());
  call.write({ node: nodeToWire(node) });
  for await (const chunk of content) {
    if (call.cancelled) return;
    if (!call.write({ chunk: chunk as Buffer })) await drainedOrGone(call);
  }
  call.end();
}

async function walkTree(ctx: HandlerContext, call: ServerWritableStream<WalkTreeRequest, WalkTreeResponse>) {
  authenticate(ctx, call.metadata);
  const pages = await queries.walkTree(ctx.svc, call.request);
  for await (const page of pages) {
    if (call.cancelled) return;
    if (!call.write({ nodes: page.nodes.map((n) => nodeToWire(n)), resumeToken: page.resumeToken })) await drainedOrGone(call);
    if (call.cancelled) return;
  }
  call.end();
}

export function fileStoreHandlers(ctx: HandlerContext): FileStoreServiceServer {
  return {
    listBackends: unary(ctx, async () => ({ backends: queries.listBackends(ctx.svc).map(backendToWire) })),
    getNode: unary(ctx, async (req) => {
      const { node, rollup } = await queries.getNode(ctx.svc, req);
      return { node: nodeToWire(node, rollup) };
    }),
    listChildren: unary(ctx, async (req) => {
      const page = await queries.listChildren(ctx.svc, req);
      return { nodes: page.nodes.map((n) => nodeToWire(n)), nextPageToken: page.nextPageToken };
    }),
    walkTree: (call: ServerWritableStream<WalkTreeRequest, WalkTreeResponse>) => {
      walkTree(ctx, call).catch((err) => call.emit('error', toServiceError(err, ctx.log)));
    },
    createDirectory: unary(ctx, async (req, actor) => resultToWire(await createDirectoryCommand(ctx.svc, actor, req))),
    writeFile: (call: ServerReadableStream<WriteFileRequest, WriteFileResponse>, callback: sendUnaryData<WriteFileResponse>) => {
      writeFile(ctx, call).then(
        (res) => callback(null, res),
        (err) => callback(toServiceError(err, ctx.log)),
      );
    },
    readFile: (call: ServerWritableStream<ReadFileRequest, ReadFileResponse>) => {
      readFile(ctx, call).catch((err) => call.emit('error', toServiceError(err, ctx.log)));
    },
    moveNode: unary(ctx, async (req, actor) => resultToWire(await moveNodeCommand(ctx.svc, actor, req))),
    copyNode: unary(ctx, async (req, actor) => resultToWire(await copyNodeCommand(ctx.svc, actor, req))),
    deleteNode: unary(ctx, async (req, actor) => resultToWire(await deleteNodeCommand(ctx.svc, actor, req))),
    updateNodeMetadata: unary(ctx, async (req, actor) => resultToWire(await updateMetadataCommand(ctx.svc, actor, req))),
    listNodeVersions: unary(ctx, async (req) => {
      const page = await queries.listNodeVersions(ctx.svc, req);
      return { versions: page.versions.map(snapshotToWire), nextPageToken: page.nextPageToken };
    }),
    enqueueReconciliation: unary(ctx, async () => {
      throw unimplemented('RECONCILIATION_UNAVAILABLE', 'reconciliation workers are not part of this release yet');
    }),
  };
}
