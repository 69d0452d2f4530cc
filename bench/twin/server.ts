// The no-op twin of FileStoreService: the same generated service definition (and so the
// same protobuf framing) as the real server, with handlers that do no work: canned
// CreateDirectory/GetNode replies, a WriteFile that drains and discards the upload, and a
// ReadFile that streams from a preallocated buffer. Run as its own process by the bench:
//   TWIN_ADDR=127.0.0.1:0 TWIN_CHUNK_BYTES=1048576 node --import tsx bench/twin/server.ts
// It prints {"twin":"serving","port":N} once bound.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import {
  FileStoreServiceService,
  type CreateDirectoryRequest,
  type CreateDirectoryResponse,
  type GetNodeRequest,
  type GetNodeResponse,
  type ReadFileRequest,
  type ReadFileResponse,
  type WriteFileRequest,
  type WriteFileResponse,
} from '../../gen/filestore/v1/filestore_service.js';
import { NodeKind, NodeState, RollupState, type Node } from '../../gen/filestore/v1/node.js';

const ADDRESS = process.env.TWIN_ADDR ?? '127.0.0.1:0';
const CHUNK_BYTES = Number(process.env.TWIN_CHUNK_BYTES ?? 1024 * 1024);
/** What ReadFile sends when the request has no length. */
const DEFAULT_READ_BYTES = Number(process.env.TWIN_READ_BYTES ?? 256 * 1024 * 1024);
// Same limits as src/server/grpc-server.ts.
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

const NOW = new Date();
const SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
// Canned nodes shaped like the real server's replies (same fields set), with the request's path.
const node = (path: string, kind: NodeKind, sizeBytes: number): Node => ({
  id: 1_000_001,
  backendId: 1,
  path,
  name: path.slice(path.lastIndexOf('/') + 1),
  kind,
  state: NodeState.NODE_STATE_ACTIVE,
  version: 1,
  sizeBytes,
  sha256: kind === NodeKind.NODE_KIND_FILE ? SHA : '',
  metadata: {},
  createdAt: NOW,
  updatedAt: NOW,
  rollup: undefined,
});

const CHUNK = randomBytes(CHUNK_BYTES); // preallocated once; every ReadFile streams from it

const notImplemented = (_call: unknown, callback: sendUnaryData<never>) =>
  callback({ code: status.UNIMPLEMENTED, details: 'the twin implements only CreateDirectory, GetNode, WriteFile and ReadFile' });

const server = new Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES });
server.addService(FileStoreServiceService, {
  createDirectory(call: ServerUnaryCall<CreateDirectoryRequest, CreateDirectoryResponse>, callback: sendUnaryData<CreateDirectoryResponse>) {
    callback(null, { node: node(call.request.path, NodeKind.NODE_KIND_DIRECTORY, 0), journalId: 1, idempotentReplay: false });
  },
  getNode(call: ServerUnaryCall<GetNodeRequest, GetNodeResponse>, callback: sendUnaryData<GetNodeResponse>) {
    // A path with a dot is the bench's file, anything else its directory (answered with a rollup).
    const path = call.request.path;
    if (path.includes('.')) return callback(null, { node: node(path, NodeKind.NODE_KIND_FILE, 4096) });
    const rollup = { sizeBytes: 4096, fileCount: 1, dirCount: 0, state: RollupState.ROLLUP_STATE_UP_TO_DATE, lastCalculatedAt: NOW };
    callback(null, { node: { ...node(path, NodeKind.NODE_KIND_DIRECTORY, 0), rollup } });
  },
  writeFile(call: ServerReadableStream<WriteFileRequest, WriteFileResponse>, callback: sendUnaryData<WriteFileResponse>) {
    let path = '';
    let size = 0;
    call.on('data', (msg: WriteFileRequest) => {
      if (msg.header) path = msg.header.path;
      else if (msg.chunk) size += msg.chunk.length;
    });
    call.on('end', () => callback(null, { node: node(path, NodeKind.NODE_KIND_FILE, size), journalId: 1, idempotentReplay: false }));
    call.on('error', () => {});
  },
  readFile(call: ServerWritableStream<ReadFileRequest, ReadFileResponse>) {
    const total = call.request.length || DEFAULT_READ_BYTES;
    (async () => {
      call.write({ node: node(call.request.path, NodeKind.NODE_KIND_FILE, total) });
      for (let sent = 0; sent < total && !call.cancelled; ) {
        const piece = total - sent >= CHUNK.length ? CHUNK : CHUNK.subarray(0, total - sent);
        sent += piece.length;
        if (!call.write({ chunk: piece })) await once(call, 'drain');
      }
      call.end();
    })().catch(() => call.end());
  },
  listBackends: notImplemented,
  listChildren: notImplemented,
  moveNode: notImplemented,
  copyNode: notImplemented,
  deleteNode: notImplemented,
  updateNodeMetadata: notImplemented,
  listNodeVersions: notImplemented,
  enqueueReconciliation: notImplemented,
});

server.bindAsync(ADDRESS, ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(JSON.stringify({ twin: 'serving', port }));
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.forceShutdown();
    process.exit(0);
  });
}
