// A real grpc-js client with promise helpers, used by the tests and the bench.
import { createHash } from 'node:crypto';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import * as fsMessages from '../../gen/filestore/v1/filestore_service.js';
import { FileStoreServiceClient, WriteFileHeader, type WriteFileResponse } from '../../gen/filestore/v1/filestore_service.js';
import * as journalMessages from '../../gen/filestore/v1/journal_service.js';
import { JournalServiceClient } from '../../gen/filestore/v1/journal_service.js';
import type { Node } from '../../gen/filestore/v1/node.js';
import { EventsServiceClient, type SubscribeRequest } from '../../gen/filestore/v1/events_service.js';
import { Subscriber } from './events.js';
import { ErrorInfo } from '../../gen/google/rpc/error_details.js';
import { Status } from '../../gen/google/rpc/status.js';

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
type UnaryMethod<Req, Res> = (req: Req, metadata: Metadata, cb: Callback<Res>) => unknown;

export function call<Req, Res>(client: object, method: UnaryMethod<Req, Res>, req: Req, metadata = new Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => method.call(client, req, metadata, (err, res) => (err ? reject(err) : resolve(res))));
}

export class TestClient {
  readonly files: FileStoreServiceClient;
  readonly journal: JournalServiceClient;
  readonly eventsClient: EventsServiceClient;

  constructor(
    readonly address: string,
    readonly token?: string,
  ) {
    const options = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
    this.files = new FileStoreServiceClient(address, credentials.createInsecure(), options);
    this.journal = new JournalServiceClient(address, credentials.createInsecure(), options);
    this.eventsClient = new EventsServiceClient(address, credentials.createInsecure(), options);
  }

  metadata(): Metadata {
    const m = new Metadata();
    if (this.token) m.set('authorization', `Bearer ${this.token}`);
    return m;
  }

  /** Calls a unary FileStoreService method by name, e.g. c.fs('getNode', {...}). */
  fs<K extends keyof FileStoreServiceClient>(method: K, req: object): Promise<any> {
    return call(this.files, this.files[method] as any, complete(fsMessages, method, req), this.metadata());
  }

  js<K extends keyof JournalServiceClient>(method: K, req: object): Promise<any> {
    return call(this.journal, this.journal[method] as any, complete(journalMessages, method, req), this.metadata());
  }

  /** Uploads `data` (or a generator of chunks) after `header`. */
  write(header: Partial<WriteFileHeader>, data: Buffer | Iterable<Buffer> | AsyncIterable<Buffer>, chunkSize = 64 * 1024): Promise<WriteFileResponse> {
    return new Promise((resolve, reject) => {
      const stream = this.files.writeFile(this.metadata(), (err, res) => (err ? reject(err) : resolve(res!)));
      (async () => {
        stream.write({ header: WriteFileHeader.fromPartial({ backendId: 1, ...header }) });
        const chunks = Buffer.isBuffer(data) ? slices(data, chunkSize) : data;
        for await (const chunk of chunks) {
          if (!stream.write({ chunk })) await new Promise((r) => stream.once('drain', r));
        }
        stream.end();
      })().catch((err) => stream.destroy(err));
    });
  }

  /** Downloads a file: the node and the whole content. */
  async read(req: object): Promise<{ node: Node; data: Buffer }> {
    const stream = this.files.readFile(fsMessages.ReadFileRequest.fromPartial({ backendId: 1, ...req }), this.metadata());
    let node: Node | undefined;
    const parts: Buffer[] = [];
    for await (const msg of stream) {
      if (msg.node) node = msg.node;
      else if (msg.chunk) parts.push(msg.chunk);
    }
    return { node: node!, data: Buffer.concat(parts) };
  }

  /** Runs WalkTree to its end (or `stopAfter` messages): its messages, in order. */
  async walk(req: Partial<fsMessages.WalkTreeRequest>, stopAfter = Infinity): Promise<fsMessages.WalkTreeResponse[]> {
    const stream = this.files.walkTree(fsMessages.WalkTreeRequest.fromPartial({ backendId: 1, ...req }), this.metadata());
    const out: fsMessages.WalkTreeResponse[] = [];
    for await (const msg of stream) {
      out.push(msg);
      if (out.length >= stopAfter) {
        stream.cancel();
        break;
      }
    }
    return out;
  }

  /** Opens EventsService.Subscribe. */
  subscribe(req: Partial<SubscribeRequest> = {}): Subscriber {
    return new Subscriber(this.eventsClient, req, this.metadata());
  }

  close(): void {
    this.files.close();
    this.journal.close();
    this.eventsClient.close();
  }
}

/** ts-proto encoders want every field: fill in the defaults of the method's request message. */
function complete(messages: Record<string, unknown>, method: string, req: object): object {
  const type = messages[`${method[0].toUpperCase()}${method.slice(1)}Request`] as { fromPartial(o: object): object };
  return type.fromPartial(req);
}

export function* slices(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The ErrorInfo reason carried in a failed call's status details. */
export function errorReason(err: ServiceError): string | undefined {
  const bin = err.metadata?.get('grpc-status-details-bin')[0];
  if (!bin) return undefined;
  const status = Status.decode(bin as Buffer);
  const info = status.details.find((d) => d.typeUrl.endsWith('google.rpc.ErrorInfo'));
  return info ? ErrorInfo.decode(info.value).reason : undefined;
}
