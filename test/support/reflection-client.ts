// A server-reflection client over one ServerReflectionInfo stream, and a descriptor source
// built only from its answers, the way grpcurl builds one: ask for the file containing a symbol,
// then by name for any import the answer lacks, and keep a strict registry of everything so far.
import { Client, credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { create, createFileRegistry, fromBinary, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { ServerReflectionRequest, ServerReflectionResponse } from '../../gen/grpc/reflection/v1/reflection.js';

export type ReflectionVersion = 'v1' | 'v1alpha';

export class ReflectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`reflection error ${code}: ${message}`);
  }
}

export class ReflectionClient {
  private readonly client: Client;
  private readonly call: ClientDuplexStream<ServerReflectionRequest, ServerReflectionResponse>;
  private readonly waiting: { resolve(res: ServerReflectionResponse): void; reject(err: Error): void }[] = [];
  private failed: Error | null = null;

  constructor(
    address: string,
    readonly version: ReflectionVersion = 'v1',
  ) {
    this.client = new Client(address, credentials.createInsecure());
    // v1 and v1alpha messages are the same on the wire: one codec serves both.
    this.call = this.client.makeBidiStreamRequest(
      `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
      (req: ServerReflectionRequest) => Buffer.from(ServerReflectionRequest.encode(req).finish()),
      (bytes: Buffer) => ServerReflectionResponse.decode(bytes),
    );
    this.call.on('data', (res: ServerReflectionResponse) => this.waiting.shift()?.resolve(res));
    this.call.on('error', (err: Error) => {
      this.failed = err;
      for (const w of this.waiting.splice(0)) w.reject(err);
    });
  }

  /** One request, one answer (the server answers in order). */
  ask(req: Partial<ServerReflectionRequest>): Promise<ServerReflectionResponse> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.call.write(ServerReflectionRequest.fromPartial({ host: '', ...req }));
    });
  }

  async listServices(): Promise<string[]> {
    const res = await this.ask({ listServices: '*' });
    if (res.errorResponse) throw new ReflectionError(res.errorResponse.errorCode, res.errorResponse.errorMessage);
    return res.listServicesResponse!.service.map((s) => s.name);
  }

  /** The serialized FileDescriptorProtos of one answer; a reflection error throws. */
  async files(req: Partial<ServerReflectionRequest>): Promise<Uint8Array[]> {
    const res = await this.ask(req);
    if (res.errorResponse) throw new ReflectionError(res.errorResponse.errorCode, res.errorResponse.errorMessage);
    if (!res.fileDescriptorResponse) throw new Error(`no file_descriptor_response to ${JSON.stringify(req)}`);
    return res.fileDescriptorResponse.fileDescriptorProto.map((b) => new Uint8Array(b));
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

export function decodeFile(bytes: Uint8Array): FileDescriptorProto {
  return fromBinary(FileDescriptorProtoSchema, bytes);
}

/** A strict registry of `files`: a missing import or an unresolved type name throws. */
export function strictRegistry(files: Iterable<Uint8Array>): FileRegistry {
  const byName = new Map([...files].map(decodeFile).map((f) => [f.name, f]));
  // createFileRegistry wants imports before their importers, as protoc writes a set.
  const ordered: FileDescriptorProto[] = [];
  const visit = (name: string) => {
    const file = byName.get(name);
    if (!file || ordered.includes(file)) return;
    file.dependency.forEach(visit);
    ordered.push(file);
  };
  [...byName.keys()].forEach(visit);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
}

/** What grpcurl keeps: the files reflection gave it, and a registry over all of them. */
export class ReflectionSource {
  readonly files = new Map<string, Uint8Array>();
  registry: FileRegistry = strictRegistry([]);

  constructor(readonly reflection: ReflectionClient) {}

  /** Makes sure `symbol` (a message, enum or service) is in the registry, asking reflection for what is missing. */
  async resolve(symbol: string): Promise<FileRegistry> {
    if (this.registry.get(symbol)) return this.registry;
    this.add(await this.reflection.files({ fileContainingSymbol: symbol }));
    for (let missing = this.missingImports(); missing.length > 0; missing = this.missingImports()) {
      for (const name of missing) this.add(await this.reflection.files({ fileByFilename: name }));
    }
    this.registry = strictRegistry(this.files.values());
    return this.registry;
  }

  private add(answer: Uint8Array[]): void {
    for (const bytes of answer) this.files.set(decodeFile(bytes).name, bytes);
  }

  private missingImports(): string[] {
    const deps = [...this.files.values()].flatMap((b) => decodeFile(b).dependency);
    return [...new Set(deps)].filter((d) => !this.files.has(d));
  }
}
