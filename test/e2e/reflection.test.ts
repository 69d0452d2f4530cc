// Server reflection as grpcurl sees it, against the real binary: every answer must build in
// strict descriptor pools (@bufbuild/protobuf's registry and protobuf's own, through Python),
// and the README's grpcurl examples run, in order, with nothing but what reflection served.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { JsonObject } from '@bufbuild/protobuf';
import type { DescriptorProto } from '@bufbuild/protobuf/wkt';
import { loadDescriptorSet } from '../../src/server/descriptor-set.js';
import { Grpcurl, parseGrpcurl, readmeBlocks, shellCommands, type GrpcurlCommand, type Outcome } from '../support/grpcurl.js';
import { decodeFile, ReflectionClient, ReflectionSource, strictRegistry, type ReflectionVersion } from '../support/reflection-client.js';
import { makeTestEnv, REPO_ROOT, spawnServer, type SpawnedServer, type TestEnv } from '../support/server.js';

const TOKEN = 'alice-secret-token-0123456789';
const SERVICES = [
  'filestore.v1.EventsService',
  'filestore.v1.FileStoreService',
  'filestore.v1.JournalService',
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];
const COMPILED = loadDescriptorSet(readFileSync(path.join(REPO_ROOT, 'gen/filestore.binpb')));

let env: TestEnv;
let s: SpawnedServer;
let address: string;

test.before(async () => {
  env = await makeTestEnv({ FILESTORE_TOKENS: `alice:${TOKEN}`, FILESTORE_EVENTS_HEARTBEAT_MS: '200' });
  s = await spawnServer(env.env);
  address = `127.0.0.1:${s.port}`;
});

test.after.always(async () => {
  await s?.kill('SIGKILL');
  await env?.cleanup();
});

async function withReflection<T>(version: ReflectionVersion, use: (r: ReflectionClient) => Promise<T>): Promise<T> {
  const r = new ReflectionClient(address, version);
  try {
    return await use(r);
  } finally {
    r.close();
  }
}

interface PythonBuild {
  error?: string;
  files?: string[];
  services?: Record<string, string[]>;
}

/** Builds each answer alone in a fresh protobuf descriptor pool (Debian's python3-protobuf). */
async function buildInPython(answers: { label: string; files: Uint8Array[] }[]): Promise<{ implementation: string; answers: Record<string, PythonBuild> }> {
  const input = JSON.stringify({ answers: answers.map((a) => ({ label: a.label, files: a.files.map((f) => Buffer.from(f).toString('base64')) })) });
  const child = spawn('/usr/bin/python3', [path.join(REPO_ROOT, 'test/support/strict_descriptors.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve, reject) => child.on('error', reject).on('close', resolve));
  if (code !== 0) {
    const hint = stderr.includes("No module named 'google'") ? ' (apt-get install -y python3-protobuf; .ci/run installs it)' : '';
    throw new Error(`/usr/bin/python3 strict_descriptors.py exited ${code}${hint}:\n${stderr}`);
  }
  return JSON.parse(stdout);
}

/** Every message in a file, nested ones included, by full name. */
function messages(pkg: string, list: DescriptorProto[]): [string, DescriptorProto][] {
  return list.flatMap((m) => [[`${pkg}.${m.name}`, m] as [string, DescriptorProto], ...messages(`${pkg}.${m.name}`, m.nestedType)]);
}

// Besides the services, what grpcurl asks for to print an error's details.
const DETAIL_SYMBOLS = ['google.rpc.Status', 'google.rpc.ErrorInfo'];

/** Each symbol's file_containing_symbol answer, and file_by_filename for every file named in them, transitively. */
async function fetchAnswers(r: ReflectionClient, symbols: string[]) {
  const answers: { label: string; files: Uint8Array[]; asked: string }[] = [];
  const named = new Set<string>();
  for (const symbol of symbols) {
    const files = await r.files({ fileContainingSymbol: symbol });
    answers.push({ label: `symbol ${symbol}`, files, asked: symbol });
    for (const f of files.map(decodeFile)) [f.name, ...f.dependency].forEach((n) => named.add(n));
  }
  for (const name of named) {
    const files = await r.files({ fileByFilename: name });
    answers.push({ label: `file ${name}`, files, asked: name });
    for (const f of files.map(decodeFile)) f.dependency.forEach((n) => named.add(n));
  }
  return answers;
}

test.serial('v1: every listed service, and every file it leads to, builds from one answer in strict pools', async (t) => {
  await withReflection('v1', async (r) => {
    const services = await r.listServices();
    t.deepEqual([...services].sort(), SERVICES);

    const answers = await fetchAnswers(r, [...services, ...DETAIL_SYMBOLS]);
    for (const a of answers) {
      const files = a.files.map(decodeFile);
      t.is(new Set(files.map((f) => f.name)).size, files.length, `${a.label}: each file once`);
      if (a.label.startsWith('symbol')) {
        const declared = strictRegistry(a.files).get(a.asked);
        t.truthy(declared, `${a.label}: the answer builds alone in @bufbuild/protobuf and holds the symbol`);
        t.is(declared?.file.proto.name, files[0].name, `${a.label}: the first file declares it`);
      } else {
        t.is(files[0].name, a.asked, `${a.label}: the first file is the one asked for`);
        t.notThrows(() => strictRegistry(a.files), `${a.label}: builds alone in @bufbuild/protobuf`);
      }
    }

    const python = await buildInPython(answers);
    t.log(`Python descriptor pool implementation: ${python.implementation}`);
    for (const a of answers) {
      const built = python.answers[a.label];
      t.falsy(built.error, `${a.label}: protobuf's descriptor pool refuses it: ${built.error}`);
    }
    for (const service of services) {
      const methods = strictRegistry(answers.find((a) => a.asked === service)!.files).getService(service)!.methods;
      t.deepEqual(
        python.answers[`symbol ${service}`].services?.[service],
        methods.map((m) => `${m.name}(${m.input.typeName}) ${m.output.typeName}`),
        `${service}: Python sees the same methods and types`,
      );
    }
  });
});

test.serial('v1: the files are the ones buf compiled, byte for byte, each under its own name', async (t) => {
  await withReflection('v1', async (r) => {
    const served = new Map<string, Uint8Array>();
    for (const a of await fetchAnswers(r, [...(await r.listServices()), ...DETAIL_SYMBOLS])) {
      for (const bytes of a.files) {
        const name = decodeFile(bytes).name;
        const before = served.get(name);
        if (before) t.deepEqual(before, bytes, `${name} is the same in every answer`);
        served.set(name, bytes);
      }
    }
    t.deepEqual([...served.keys()].sort(), [...COMPILED.files.keys()].sort(), 'reflection serves exactly the files of gen/filestore.binpb');
    for (const [name, bytes] of served) t.true(Buffer.from(bytes).equals(Buffer.from(COMPILED.bytes.get(name)!)), `${name} is served as compiled`);

    // What the old per-package merge got wrong, said plainly.
    const file = (name: string) => decodeFile(served.get(name)!);
    t.deepEqual(file('filestore/v1/journal_service.proto').service.map((x) => x.name), ['JournalService']);
    t.deepEqual(file('filestore/v1/journal_service.proto').dependency, ['google/protobuf/struct.proto', 'google/protobuf/timestamp.proto']);
    t.deepEqual(file('google/protobuf/any.proto').messageType.map((m) => m.name), ['Any']);
    for (const [name, bytes] of served) {
      const f = decodeFile(bytes);
      for (const [full, m] of messages(f.package, f.messageType)) {
        if (m.options?.mapEntry) t.regex(full, /\.[A-Z]\w*\.\w+Entry$/, `${name}: only nested *Entry messages are map entries (${full})`);
      }
      for (const field of f.messageType.flatMap((m) => m.field)) {
        if (field.typeName) t.true(field.typeName.startsWith('.'), `${name}: ${field.name} names its type fully (${field.typeName})`);
      }
    }
  });
});

test.serial('v1: any symbol finds its file — methods, messages, nested types, enums, enum values, fields, oneofs', async (t) => {
  const want: Record<string, string> = {
    'filestore.v1.FileStoreService.WriteFile': 'filestore/v1/filestore_service.proto',
    'filestore.v1.EventsService.Subscribe': 'filestore/v1/events_service.proto',
    'filestore.v1.Node': 'filestore/v1/node.proto',
    'filestore.v1.NodeKind': 'filestore/v1/node.proto',
    'filestore.v1.NODE_KIND_FILE': 'filestore/v1/node.proto',
    'filestore.v1.JournalEntry.params': 'filestore/v1/journal_service.proto',
    'filestore.v1.WriteFileRequest.payload': 'filestore/v1/filestore_service.proto',
    'grpc.health.v1.HealthCheckResponse.ServingStatus': 'grpc/health/v1/health.proto',
    'grpc.health.v1.HealthCheckResponse.SERVING': 'grpc/health/v1/health.proto',
    'grpc.health.v1.HealthListResponse.StatusesEntry': 'grpc/health/v1/health.proto',
    'google.protobuf.Struct': 'google/protobuf/struct.proto',
    'google.protobuf.Timestamp': 'google/protobuf/timestamp.proto',
    'google.rpc.Status': 'google/rpc/status.proto',
    'google.rpc.ErrorInfo': 'google/rpc/error_details.proto',
    'grpc.reflection.v1alpha.ServerReflectionRequest': 'grpc/reflection/v1alpha/reflection.proto',
  };
  await withReflection('v1', async (r) => {
    for (const [symbol, file] of Object.entries(want)) {
      const answer = await r.files({ fileContainingSymbol: symbol });
      t.is(decodeFile(answer[0]).name, file, symbol);
      t.notThrows(() => strictRegistry(answer), `${symbol}: the answer builds alone`);
    }
    const status = strictRegistry(await r.files({ fileContainingSymbol: 'google.rpc.Status' }));
    t.truthy(status.getMessage('google.protobuf.Any'), 'google.rpc.Status comes with google/protobuf/any.proto');
  });
});

test.serial('v1: unknown names and extensions answer NOT_FOUND, known types have no extensions, and the stream goes on', async (t) => {
  await withReflection('v1', async (r) => {
    const notFound = async (req: Parameters<ReflectionClient['ask']>[0], label: string) => {
      const res = await r.ask(req);
      t.is(res.errorResponse?.errorCode, grpcStatus.NOT_FOUND, `${label}: ${JSON.stringify(res.errorResponse)}`);
      t.truthy(res.errorResponse?.errorMessage, label);
      t.is(res.fileDescriptorResponse, undefined, label);
      t.like(res.originalRequest, req as object, `${label}: the request is echoed`);
    };
    await notFound({ fileContainingSymbol: 'no.such.Symbol' }, 'unknown symbol');
    await notFound({ fileContainingSymbol: 'filestore.v1.FileStoreService/ListBackends' }, 'a method written with a slash');
    await notFound({ fileByFilename: 'no/such.proto' }, 'unknown file');
    await notFound({ fileByFilename: 'journal_service.proto' }, 'the merged file of old');
    await notFound({ fileContainingExtension: { containingType: 'filestore.v1.Node', extensionNumber: 100 } }, 'no such extension');
    await notFound({ allExtensionNumbersOfType: 'no.such.Type' }, 'extensions of an unknown type');

    const none = await r.ask({ allExtensionNumbersOfType: 'filestore.v1.Node' });
    t.deepEqual(none.allExtensionNumbersResponse, { baseTypeName: 'filestore.v1.Node', extensionNumber: [] });
    t.deepEqual([...(await r.listServices())].sort(), SERVICES, 'the stream still answers after errors');
  });
});

test.serial('v1alpha answers the same (grpcurl falls back to it)', async (t) => {
  await withReflection('v1alpha', async (r) => {
    t.deepEqual([...(await r.listServices())].sort(), SERVICES);
    const health = await r.files({ fileContainingSymbol: 'grpc.health.v1.Health' });
    t.is(decodeFile(health[0]).name, 'grpc/health/v1/health.proto');
    t.truthy(strictRegistry(health).getService('grpc.health.v1.Health'));
    const fs = await r.files({ fileContainingSymbol: 'filestore.v1.FileStoreService' });
    t.deepEqual(fs.map((b) => decodeFile(b).name).sort(), ['filestore/v1/filestore_service.proto', 'filestore/v1/node.proto', 'google/protobuf/struct.proto', 'google/protobuf/timestamp.proto']);
    t.truthy(strictRegistry(fs).getService('filestore.v1.FileStoreService'));
    const struct = await r.files({ fileByFilename: 'google/protobuf/struct.proto' });
    t.true(Buffer.from(struct[0]).equals(Buffer.from(COMPILED.bytes.get('google/protobuf/struct.proto')!)));
    const python = await buildInPython([{ label: 'health', files: health }, { label: 'fs', files: fs }]);
    t.falsy(python.answers.health.error, python.answers.health.error);
    t.falsy(python.answers.fs.error, python.answers.fs.error);
  });
});

// --- the README's examples --------------------------------------------------------------------

const README = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const HELLO = 'hello, world\n';

type Check = (t: ExecutionContext, o: Outcome, seen: Outcome[]) => void;
const ok = (t: ExecutionContext, o: Outcome) => t.is(o.code, 0, o.output);
const first = (o: Outcome) => o.responses[0] as any;

/** What each example of "Talking to it" must answer, in README order. */
const EXPECTED: [string, Check][] = [
  ['list', (t, o) => (ok(t, o), t.deepEqual(o.responses, SERVICES))],
  ['grpc.health.v1.Health/Check', (t, o) => (ok(t, o), t.deepEqual(first(o), { status: 'SERVING' }))],
  ['filestore.v1.FileStoreService/ListBackends', (t, o) => (ok(t, o), t.like(first(o), { backends: [{ id: '1', kind: 'BACKEND_KIND_LOCAL' }] }))],
  ['filestore.v1.FileStoreService/CreateDirectory', (t, o) => (ok(t, o), t.like(first(o).node, { path: 'reports/2026', kind: 'NODE_KIND_DIRECTORY' }))],
  ['filestore.v1.FileStoreService/WriteFile', (t, o) => {
    ok(t, o);
    t.like(first(o).node, { path: 'reports/2026/hello.txt', sizeBytes: '13', version: '1', sha256: createHash('sha256').update(HELLO).digest('hex') });
  }],
  ['filestore.v1.FileStoreService/ReadFile', (t, o) => {
    ok(t, o);
    t.like(first(o).node, { path: 'reports/2026/hello.txt', kind: 'NODE_KIND_FILE' });
    const body = o.responses.slice(1).map((r: any) => Buffer.from(r.chunk, 'base64'));
    t.is(Buffer.concat(body).toString(), HELLO);
  }],
  ['filestore.v1.FileStoreService/MoveNode', (t, o) => (ok(t, o), t.like(first(o).node, { path: 'archive/reports', version: '2' }))],
  ['filestore.v1.FileStoreService/UpdateNodeMetadata', (t, o) => (ok(t, o), t.deepEqual(first(o).node.metadata, { owner: 'ann' }))],
  ['filestore.v1.FileStoreService/ListChildren', (t, o) => (ok(t, o), t.deepEqual(first(o).nodes.map((n: any) => n.path), ['archive']))],
  ['filestore.v1.FileStoreService/WalkTree', (t, o) => {
    ok(t, o);
    t.deepEqual(o.responses.flatMap((r: any) => r.nodes.map((n: any) => n.path)), ['archive/reports', 'archive/reports/2026', 'archive/reports/2026/hello.txt']);
    t.truthy(first(o).resumeToken);
  }],
  ['filestore.v1.FileStoreService/DeleteNode', (t, o) => (ok(t, o), t.like(first(o).node, { path: 'archive', state: 'NODE_STATE_DELETED' }))],
  ['filestore.v1.JournalService/ListJournalEntries', (t, o) => {
    ok(t, o);
    const entries = first(o).entries as any[];
    t.deepEqual(entries.map((e) => e.command), ['DeleteNode', 'UpdateNodeMetadata', 'MoveNode']);
    for (const e of entries) t.like(e, { principal: 'alice', status: 'JOURNAL_STATUS_SUCCEEDED' });
    t.deepEqual(entries[1].params.metadata, { owner: 'ann' }, 'a Struct inside the answer decodes');
  }],
  ['filestore.v1.FileStoreService/GetNode', (t, o) => {
    t.is(o.code, grpcStatus.NOT_FOUND, o.output);
    t.deepEqual(o.details, [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'NODE_NOT_FOUND', domain: 'filestore.v1' }]);
  }],
  ['filestore.v1.FileStoreService/ListBackends', (t, o) => (ok(t, o), t.like(first(o), { backends: [{ id: '1' }] }))],
  ['filestore.v1.EventsService/Subscribe', (t, o) => (ok(t, o), t.like(first(o).event, { type: 'filestore.heartbeat' }), t.regex(first(o).event.cursor, /^\d+$/))],
  ['filestore.v1.EventsService/Subscribe', (t, o, seen) => {
    ok(t, o);
    t.like(first(o).event, { type: 'filestore.heartbeat' });
    t.true(BigInt(first(o).event.cursor) >= BigInt(first(seen.at(-1)!).event.cursor), 'the resumed stream starts at or after the cursor');
  }],
];

function readmeCommands(): { commands: GrpcurlCommand[]; errorOutputs: string[] } {
  const blocks = readmeBlocks(README, 'Talking to it');
  return {
    commands: blocks.filter((b) => b.lang === 'sh').flatMap((b) => shellCommands(b.body).map(parseGrpcurl)),
    errorOutputs: blocks.filter((b) => b.lang === 'text' && b.body.startsWith('ERROR:')).map((b) => b.body.trimEnd()),
  };
}

test.serial("the README's grpcurl examples, in order, through reflection alone", async (t) => {
  const { commands, errorOutputs } = readmeCommands();
  t.deepEqual(commands.map((c) => c.target ?? c.verb), EXPECTED.map(([target]) => target), 'the test knows every example of the README');
  t.true(commands.some((c) => c.data !== undefined && c.text.includes('-d @')), 'a heredoc upload is among them');
  t.true(commands.some((c) => c.headers.length > 0), 'a -H header is among them');

  const source = new ReflectionSource(new ReflectionClient(address));
  const grpcurl = new Grpcurl(source, address);
  const seen: Outcome[] = [];
  const errors: string[] = [];
  try {
    for (const [i, cmd] of commands.entries()) {
      t.is(cmd.address, '127.0.0.1:50051', cmd.text);
      // The server has tokens: every call carries one, as the README says ("every call needs a bearer token").
      const headers: [string, string][] = cmd.headers.map(([k, v]) => [k, v.replace('<token>', TOKEN)]);
      if (!headers.some(([k]) => k === 'authorization')) headers.push(['authorization', `Bearer ${TOKEN}`]);
      const lastCursor = (seen.at(-1)?.responses.at(-1) as any)?.event?.cursor;
      if (cmd.data?.includes('<cursor>') && !lastCursor) throw new Error(`no cursor seen before: ${cmd.text}`);
      const data = cmd.data?.replace('<cursor>', lastCursor);
      const streaming = cmd.target === 'filestore.v1.EventsService/Subscribe';
      const outcome = await grpcurl.run({ ...cmd, headers, data }, streaming ? { take: 1 } : {});
      t.log(`$ ${cmd.text.replace(/\s+/g, ' ')}\n${outcome.output}`);
      EXPECTED[i][1](t, outcome, seen);
      if (outcome.code !== 0) errors.push(outcome.output);
      seen.push(outcome);
    }
    t.true(errors.length > 0, 'at least one example shows a refusal');
    t.deepEqual(errors, errorOutputs, 'the README prints what these calls print');
    t.true(source.files.size >= 10, `grpcurl's picture came from reflection alone (${[...source.files.keys()].join(', ')})`);
  } finally {
    grpcurl.close();
    source.reflection.close();
  }
});

test.serial('through reflection alone: health of each service, an unknown one, and a call without a token', async (t) => {
  const source = new ReflectionSource(new ReflectionClient(address));
  const grpcurl = new Grpcurl(source, address);
  const run = (line: string) => grpcurl.run(parseGrpcurl(shellCommands(line)[0]));
  try {
    for (const service of ['filestore.v1.FileStoreService', 'filestore.v1.JournalService', 'filestore.v1.EventsService']) {
      const o = await run(`grpcurl -plaintext -d '{"service": "${service}"}' ${address} grpc.health.v1.Health/Check`);
      t.deepEqual(o.responses, [{ status: 'SERVING' } as JsonObject], service);
    }
    const unknown = await run(`grpcurl -plaintext -d '{"service": "no.such.Service"}' ${address} grpc.health.v1.Health/Check`);
    t.is(unknown.code, grpcStatus.NOT_FOUND, unknown.output);

    const refused = await run(`grpcurl -plaintext ${address} filestore.v1.FileStoreService/ListBackends`);
    t.is(refused.code, grpcStatus.UNAUTHENTICATED, refused.output);
    t.like(refused.details[0] as object, { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'TOKEN_MISSING', domain: 'filestore.v1' });

    const methods = await run(`grpcurl -plaintext ${address} list filestore.v1.FileStoreService`);
    for (const m of ['WriteFile', 'ReadFile', 'MoveNode', 'CopyNode', 'DeleteNode', 'ListChildren']) t.true(methods.responses.includes(`filestore.v1.FileStoreService.${m}`), m);
  } finally {
    grpcurl.close();
    source.reflection.close();
  }
});
