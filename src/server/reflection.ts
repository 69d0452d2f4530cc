// Server reflection, grpc.reflection.v1 and v1alpha (grpcurl tries v1, then v1alpha), answered
// from the descriptor set buf built: each file as compiled, under its own name, and with it every
// file it imports, so that one answer is enough to build the file (as grpc-go answers).
import { readFileSync } from 'node:fs';
import { status, type Server, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  ServerReflectionService as ReflectionV1,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from '../../gen/grpc/reflection/v1/reflection.js';
import { fromRoot } from '../project-root.js';
import { loadDescriptorSet, type DescriptorSet } from './descriptor-set.js';

const DESCRIPTOR_SET = fromRoot('gen', 'filestore.binpb');
const REFLECTION_SERVICE_NAMES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];

// v1alpha's messages are v1's, field for field: only the service's path differs.
const ReflectionV1Alpha = Object.fromEntries(
  Object.entries(ReflectionV1).map(([method, def]) => [method, { ...def, path: def.path.replace('/grpc.reflection.v1.', '/grpc.reflection.v1alpha.') }]),
) as typeof ReflectionV1;

/** Adds both reflection services to `server`; they list `services` and themselves. */
export function addReflection(server: Server, services: string[], set: DescriptorSet = loadDescriptorSet(readFileSync(DESCRIPTOR_SET))): void {
  const listed = [...services, ...REFLECTION_SERVICE_NAMES];
  for (const name of listed) {
    if (set.symbols.get(name)?.kind !== 'service') throw new Error(`${name} is not in the descriptor set ${DESCRIPTOR_SET}: run npm run generate`);
  }
  const answer = answerer(set, listed);
  const serverReflectionInfo = (call: ServerDuplexStream<ServerReflectionRequest, ServerReflectionResponse>) => {
    call.on('data', (req: ServerReflectionRequest) => call.write(answer(req)));
    call.on('end', () => call.end());
  };
  server.addService(ReflectionV1, { serverReflectionInfo });
  server.addService(ReflectionV1Alpha, { serverReflectionInfo });
}

function answerer(set: DescriptorSet, services: string[]): (req: ServerReflectionRequest) => ServerReflectionResponse {
  const encoded = new Map([...set.bytes].map(([name, bytes]) => [name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
  const withImports = (file: string) => ({ fileDescriptorProto: set.withImports(file).map((name) => encoded.get(name)!) });

  return (req) => {
    const res: ServerReflectionResponse = { validHost: req.host, originalRequest: req };
    const error = (code: status, errorMessage: string): ServerReflectionResponse => ({ ...res, errorResponse: { errorCode: code, errorMessage } });

    if (req.listServices !== undefined) {
      return { ...res, listServicesResponse: { service: services.map((name) => ({ name })) } };
    }
    if (req.fileByFilename !== undefined) {
      const name = req.fileByFilename;
      return set.files.has(name) ? { ...res, fileDescriptorResponse: withImports(name) } : error(status.NOT_FOUND, `no file named ${name}`);
    }
    if (req.fileContainingSymbol !== undefined) {
      const found = set.symbols.get(req.fileContainingSymbol);
      return found ? { ...res, fileDescriptorResponse: withImports(found.file) } : error(status.NOT_FOUND, `no symbol named ${req.fileContainingSymbol}`);
    }
    if (req.fileContainingExtension !== undefined) {
      const { containingType, extensionNumber } = req.fileContainingExtension;
      const file = set.extensions.get(containingType)?.get(extensionNumber);
      return file ? { ...res, fileDescriptorResponse: withImports(file) } : error(status.NOT_FOUND, `no extension ${extensionNumber} of ${containingType}`);
    }
    if (req.allExtensionNumbersOfType !== undefined) {
      const type = req.allExtensionNumbersOfType;
      if (set.symbols.get(type)?.kind !== 'message') return error(status.NOT_FOUND, `no message type named ${type}`);
      return { ...res, allExtensionNumbersResponse: { baseTypeName: type, extensionNumber: [...(set.extensions.get(type)?.keys() ?? [])] } };
    }
    return error(status.INVALID_ARGUMENT, 'the request sets no message_request');
  };
}
