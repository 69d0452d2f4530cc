// The one client that drives both the real server and the twin: the generated grpc-js
// client, with request objects built in full up front (no fromPartial per call).
import { once } from 'node:events';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import {
  FileStoreServiceClient,
  type CreateDirectoryRequest,
  type CreateDirectoryResponse,
  type GetNodeRequest,
  type GetNodeResponse,
  type ListChildrenRequest,
  type ListChildrenResponse,
  type ReadFileRequest,
  type WalkTreeRequest,
  type WriteFileHeader,
  type WriteFileResponse,
} from '../../gen/filestore/v1/filestore_service.js';
import type { Node } from '../../gen/filestore/v1/node.js';

export const BACKEND_ID = 1;

export class BenchClient {
  readonly raw: FileStoreServiceClient;

  constructor(readonly address: string) {
    this.raw = new FileStoreServiceClient(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
    });
  }

  createDirectory(path: string, parents = false): Promise<CreateDirectoryResponse> {
    const req: CreateDirectoryRequest = { backendId: BACKEND_ID, path, parents, metadata: undefined, idempotencyKey: '' };
    return new Promise((resolve, reject) => this.raw.createDirectory(req, (err, res) => (err ? reject(err) : resolve(res))));
  }

  getNode(req: GetNodeRequest): Promise<GetNodeResponse> {
    return new Promise((resolve, reject) => this.raw.getNode(req, (err, res) => (err ? reject(err) : resolve(res))));
  }

  listChildren(req: ListChildrenRequest): Promise<ListChildrenResponse> {
    return new Promise((resolve, reject) => this.raw.listChildren(req, (err, res) => (err ? reject(err) : resolve(res))));
  }

  /** Walks to the end, counting the nodes without keeping them. */
  async walk(req: WalkTreeRequest): Promise<{ nodes: number; messages: number }> {
    let nodes = 0;
    let messages = 0;
    for await (const msg of this.raw.walkTree(req)) {
      nodes += msg.nodes.length;
      messages++;
    }
    return { nodes, messages };
  }

  /** Uploads `chunkCount` messages of `chunk` (the last one cut to `totalBytes`) after a header. */
  write(path: string, chunk: Buffer, totalBytes: number, opts: { overwrite?: boolean; parents?: boolean } = {}): Promise<WriteFileResponse> {
    const header: WriteFileHeader = {
      backendId: BACKEND_ID,
      path,
      overwrite: opts.overwrite ?? false,
      expectedVersion: undefined,
      sha256: '',
      metadata: undefined,
      idempotencyKey: '',
      parents: opts.parents ?? false,
    };
    return new Promise((resolve, reject) => {
      const stream = this.raw.writeFile((err, res) => (err ? reject(err) : resolve(res!)));
      (async () => {
        stream.write({ header });
        // Bounded: one message per chunk of the file.
        for (let sent = 0; sent < totalBytes; ) {
          const piece = totalBytes - sent >= chunk.length ? chunk : chunk.subarray(0, totalBytes - sent);
          sent += piece.length;
          if (!stream.write({ chunk: piece })) await once(stream, 'drain');
        }
        stream.end();
      })().catch((err) => stream.destroy(err as Error));
    });
  }

  /** Downloads and counts the bytes without keeping them. */
  async read(req: ReadFileRequest): Promise<{ node: Node | undefined; bytes: number }> {
    const stream = this.raw.readFile(req);
    let node: Node | undefined;
    let bytes = 0;
    for await (const msg of stream) {
      if (msg.node) node = msg.node;
      else if (msg.chunk) bytes += msg.chunk.length;
    }
    return { node, bytes };
  }

  close(): void {
    this.raw.close();
  }
}

export function describeError(err: unknown): string {
  const e = err as Partial<ServiceError>;
  return e.code !== undefined ? `gRPC ${e.code}: ${e.details ?? e.message}` : String((err as Error)?.message ?? err);
}
