// The descriptor set that buf builds (gen/filestore.binpb): every .proto the server speaks, the
// imported ones included. Each file keeps the bytes buf wrote, so that reflection serves it as
// compiled, and every name a client may ask about points to the file that declares it.
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema, type DescriptorProto, type EnumDescriptorProto, type FieldDescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';

export type SymbolKind = 'message' | 'field' | 'oneof' | 'enum' | 'enum value' | 'service' | 'method' | 'extension';

export interface DescriptorSet {
  /** File name → the file's FileDescriptorProto as encoded in the set. */
  readonly bytes: ReadonlyMap<string, Uint8Array>;
  readonly files: ReadonlyMap<string, FileDescriptorProto>;
  /** Fully-qualified name (no leading dot) → the file declaring it and what it is. */
  readonly symbols: ReadonlyMap<string, { file: string; kind: SymbolKind }>;
  /** Extended message → extension number → the file declaring the extension. */
  readonly extensions: ReadonlyMap<string, ReadonlyMap<number, string>>;
  /** The file and every file it imports, directly or not, each once, the file first. */
  withImports(file: string): string[];
}

/** Decodes a FileDescriptorSet; throws when a file imports one that the set lacks. */
export function loadDescriptorSet(setBytes: Uint8Array): DescriptorSet {
  const bytes = new Map<string, Uint8Array>();
  const files = new Map<string, FileDescriptorProto>();
  // FileDescriptorSet is `repeated FileDescriptorProto file = 1`: keep each file's bytes as they are.
  const reader = new BinaryReader(setBytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field !== 1 || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType);
      continue;
    }
    const raw = reader.bytes();
    const file = fromBinary(FileDescriptorProtoSchema, raw);
    bytes.set(file.name, raw);
    files.set(file.name, file);
  }

  const symbols = new Map<string, { file: string; kind: SymbolKind }>();
  const extensions = new Map<string, Map<number, string>>();
  for (const file of files.values()) {
    for (const dep of file.dependency) {
      if (!files.has(dep)) throw new Error(`descriptor set: ${file.name} imports ${dep}, which it does not hold`);
    }
    const add = (name: string, kind: SymbolKind) => symbols.set(name, { file: file.name, kind });
    const addExtension = (scope: string, ext: FieldDescriptorProto) => {
      add(scope + ext.name, 'extension');
      const extendee = ext.extendee.replace(/^\./, '');
      if (!extensions.has(extendee)) extensions.set(extendee, new Map());
      extensions.get(extendee)!.set(ext.number, file.name);
    };
    // Enum values are scoped like their enum's siblings (C++ scoping), as protoc resolves them.
    const addEnum = (scope: string, e: EnumDescriptorProto) => {
      add(scope + e.name, 'enum');
      for (const v of e.value) add(scope + v.name, 'enum value');
    };
    const addMessage = (scope: string, m: DescriptorProto) => {
      const name = scope + m.name;
      add(name, 'message');
      for (const f of m.field) add(`${name}.${f.name}`, 'field');
      for (const o of m.oneofDecl) add(`${name}.${o.name}`, 'oneof');
      for (const nested of m.nestedType) addMessage(`${name}.`, nested);
      for (const e of m.enumType) addEnum(`${name}.`, e);
      for (const ext of m.extension) addExtension(`${name}.`, ext);
    };
    const pkg = file.package ? `${file.package}.` : '';
    for (const m of file.messageType) addMessage(pkg, m);
    for (const e of file.enumType) addEnum(pkg, e);
    for (const ext of file.extension) addExtension(pkg, ext);
    for (const s of file.service) {
      add(pkg + s.name, 'service');
      for (const m of s.method) add(`${pkg}${s.name}.${m.name}`, 'method');
    }
  }

  return {
    bytes,
    files,
    symbols,
    extensions,
    withImports(name) {
      const out: string[] = [];
      const queue = [name];
      while (queue.length > 0) {
        const next = queue.shift()!;
        if (out.includes(next)) continue;
        out.push(next);
        queue.push(...files.get(next)!.dependency);
      }
      return out;
    },
  };
}
