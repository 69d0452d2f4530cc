// A small grpcurl for the README's examples: command lines read as sh reads them (quotes, `\`
// continuations, comments, heredocs), then run with nothing but what server reflection serves —
// the method found by name, JSON turned into the request and the answers back into JSON through
// the reflected descriptors, and an error's status details decoded the same way.
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { fromBinary, fromJson, toBinary, toJson, type DescMethod, type JsonValue } from '@bufbuild/protobuf';
import type { ReflectionSource } from './reflection-client.js';

export interface GrpcurlCommand {
  /** The command as the README writes it, continuations joined. */
  text: string;
  plaintext: boolean;
  headers: [string, string][];
  /** The -d argument, or the heredoc with -d @; undefined without -d. */
  data?: string;
  address: string;
  verb: 'list' | 'call';
  /** The service or `Service/Method` named. */
  target?: string;
}

export interface Outcome {
  /** Each answer, as grpcurl prints it (for `list`, the names). */
  responses: JsonValue[];
  /** 0 when the call succeeded (or was cancelled by us after `take` answers). */
  code: number;
  message: string;
  /** The status details, each an Any in its JSON form ("@type" and the fields). */
  details: JsonValue[];
  /** What grpcurl prints for it. */
  output: string;
}

const CODE_NAMES = ['OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated'];

/** The ```sh and ```text blocks of one README section (`## title` up to the next `## `), in order. */
export function readmeBlocks(readme: string, title: string): { lang: string; body: string }[] {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no section "## ${title}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], body: m[2] }));
}

/** Splits a shell line into words: quotes, comments and a `<<DELIM` heredoc marker. */
function lex(line: string): { words: string[]; heredoc?: string } {
  const words: string[] = [];
  let heredoc: string | undefined;
  let word: string | null = null;
  let i = 0;
  const push = () => {
    if (word !== null) words.push(word);
    word = null;
  };
  while (i < line.length) {
    const ch = line[i];
    if (/\s/.test(ch)) {
      push();
      i++;
    } else if (ch === '#' && word === null) {
      break;
    } else if (ch === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw new Error(`unclosed ' in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, close);
      i = close + 1;
    } else if (ch === '"') {
      let j = i + 1;
      let s = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && /["\\$`]/.test(line[j + 1] ?? '')) j++;
        s += line[j++];
      }
      if (j >= line.length) throw new Error(`unclosed " in: ${line}`);
      word = (word ?? '') + s;
      i = j + 1;
    } else if (line.startsWith('<<', i) && word === null) {
      const rest = lex(line.slice(i + 2));
      heredoc = rest.words[0];
      if (!heredoc) throw new Error(`heredoc without a delimiter: ${line}`);
      words.push(...rest.words.slice(1));
      break;
    } else if (/[|;&<>()$`]/.test(ch)) {
      throw new Error(`unsupported shell syntax "${ch}" in: ${line}`);
    } else {
      word = (word ?? '') + ch;
      i++;
    }
  }
  push();
  return { words, heredoc };
}

/** Every command of a sh block, with its heredoc as standard input. */
export function shellCommands(block: string): { text: string; argv: string[]; stdin?: string }[] {
  const lines = block.split('\n');
  const out: { text: string; argv: string[]; stdin?: string }[] = [];
  for (let i = 0; i < lines.length; ) {
    let text = lines[i++];
    while (text.endsWith('\\') && i < lines.length) text = `${text.slice(0, -1)}${lines[i++]}`;
    const { words, heredoc } = lex(text);
    if (words.length === 0) continue;
    let stdin: string | undefined;
    if (heredoc !== undefined) {
      const body: string[] = [];
      while (i < lines.length && lines[i] !== heredoc) body.push(lines[i++]);
      if (i++ >= lines.length) throw new Error(`heredoc ${heredoc} never ends: ${text}`);
      stdin = body.map((l) => `${l}\n`).join('');
    }
    out.push({ text, argv: words, stdin });
  }
  return out;
}

/** Reads grpcurl's own arguments (the flags the README uses; anything else throws). */
export function parseGrpcurl(cmd: { text: string; argv: string[]; stdin?: string }): GrpcurlCommand {
  const [program, ...args] = cmd.argv;
  if (program !== 'grpcurl') throw new Error(`not a grpcurl command: ${cmd.text}`);
  const parsed: GrpcurlCommand = { text: cmd.text, plaintext: false, headers: [], address: '', verb: 'call' };
  let i = 0;
  for (; i < args.length && args[i].startsWith('-'); i++) {
    const flag = args[i].replace(/^--?/, '');
    if (flag === 'plaintext') parsed.plaintext = true;
    else if (flag === 'd') parsed.data = args[++i] === '@' ? (cmd.stdin ?? '') : args[i];
    else if (flag === 'H') {
      const header = args[++i];
      const colon = header.indexOf(':');
      if (colon < 0) throw new Error(`-H "${header}" has no colon: ${cmd.text}`);
      parsed.headers.push([header.slice(0, colon).trim().toLowerCase(), header.slice(colon + 1).trim()]);
    } else throw new Error(`unsupported grpcurl flag -${flag}: ${cmd.text}`);
  }
  const [address, verb, symbol, ...extra] = args.slice(i);
  if (!address || !verb || extra.length > 0) throw new Error(`expected "grpcurl [flags] address (list [service] | method)": ${cmd.text}`);
  parsed.address = address;
  if (verb === 'list') Object.assign(parsed, { verb: 'list', target: symbol });
  else if (symbol === undefined) Object.assign(parsed, { verb: 'call', target: verb });
  else throw new Error(`unexpected argument ${symbol}: ${cmd.text}`);
  return parsed;
}

/** Concatenated JSON values, as grpcurl reads -d (one message each). */
export function jsonStream(text: string): JsonValue[] {
  const values: JsonValue[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') {
      if (depth++ === 0) start = i;
    } else if (ch === '}' || ch === ']') {
      if (--depth === 0) values.push(JSON.parse(text.slice(start, i + 1)));
    } else if (depth === 0 && !/\s/.test(ch)) throw new Error(`grpcurl -d wants JSON objects; got "${text.slice(i, i + 20)}"`);
  }
  if (depth !== 0) throw new Error(`unterminated JSON in -d: ${text}`);
  return values;
}

export function formatOutcome(o: Pick<Outcome, 'responses' | 'code' | 'message' | 'details'>): string {
  const lines = o.responses.map((r) => (typeof r === 'string' ? r : JSON.stringify(r, null, 2)));
  if (o.code !== 0) {
    lines.push(`ERROR:\n  Code: ${CODE_NAMES[o.code]}\n  Message: ${o.message}`);
    if (o.details.length > 0) lines.push('  Details:');
    o.details.forEach((d, i) => {
      const prefix = `  ${i + 1})`;
      const [first, ...rest] = JSON.stringify(typeFirst(d), null, 2).split('\n');
      lines.push(`${prefix}\t${first}`, ...rest.map((l) => `${' '.repeat(prefix.length)}\t${l}`));
    });
  }
  return lines.join('\n');
}

export class Grpcurl {
  private readonly client: Client;

  /** `address`: where the server really is (the README says 127.0.0.1:50051). */
  constructor(
    private readonly source: ReflectionSource,
    address: string,
  ) {
    this.client = new Client(address, credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  /** Runs one command; a server stream is cancelled after `take` answers. */
  async run(cmd: GrpcurlCommand, opts: { take?: number; timeoutMs?: number } = {}): Promise<Outcome> {
    if (!cmd.plaintext) throw new Error(`the test server speaks plaintext: ${cmd.text}`);
    if (cmd.verb === 'list') return this.list(cmd.target);
    const [service, name] = splitMethod(cmd.target!);
    const registry = await this.source.resolve(service);
    const method = registry.getService(service)?.methods.find((m) => m.name === name);
    if (!method) throw new Error(`reflection knows no method ${name} in ${service}`);

    const json = cmd.data === undefined ? [] : jsonStream(cmd.data);
    const requests = json.map((j) => Buffer.from(toBinary(method.input, fromJson(method.input, j, { registry }))));
    const single = method.methodKind === 'unary' || method.methodKind === 'server_streaming';
    if (single && requests.length > 1) throw new Error(`${name} takes one request, -d has ${requests.length}: ${cmd.text}`);
    if (single && requests.length === 0) requests.push(Buffer.alloc(0)); // no -d: an empty request, as grpcurl sends

    const metadata = new Metadata();
    for (const [k, v] of cmd.headers) metadata.add(k, v);
    const answers: Buffer[] = [];
    const error = await this.invoke(method, requests, metadata, answers, opts);
    const responses = answers.map((b) => toJson(method.output, fromBinary(method.output, b), { registry: this.source.registry }));
    const outcome = { responses, code: 0, message: '', details: [] as JsonValue[] };
    if (error) Object.assign(outcome, await this.status(error));
    return { ...outcome, output: formatOutcome(outcome) };
  }

  private async list(service?: string): Promise<Outcome> {
    let names: string[];
    if (service === undefined) names = (await this.source.reflection.listServices()).sort();
    else {
      const svc = (await this.source.resolve(service)).getService(service);
      if (!svc) throw new Error(`reflection knows no service ${service}`);
      names = svc.methods.map((m) => `${service}.${m.name}`);
    }
    const outcome = { responses: names, code: 0, message: '', details: [] };
    return { ...outcome, output: formatOutcome(outcome) };
  }

  /** Resolves with the call's error, or null; the answers go into `answers`. */
  private invoke(method: DescMethod, requests: Buffer[], metadata: Metadata, answers: Buffer[], opts: { take?: number; timeoutMs?: number }): Promise<ServiceError | null> {
    const path = `/${method.parent.typeName}/${method.name}`;
    const identity = (b: Buffer) => b;
    return new Promise((resolve, reject) => {
      const done = (err: ServiceError | null, res?: Buffer) => {
        if (res) answers.push(res);
        resolve(err);
      };
      switch (method.methodKind) {
        case 'unary':
          this.client.makeUnaryRequest(path, identity, identity, requests[0], metadata, done);
          return;
        case 'client_streaming': {
          const call = this.client.makeClientStreamRequest(path, identity, identity, metadata, done);
          for (const r of requests) call.write(r);
          call.end();
          return;
        }
        case 'server_streaming': {
          const call = this.client.makeServerStreamRequest(path, identity, identity, requests[0], metadata);
          const timer = setTimeout(() => {
            call.cancel();
            reject(new Error(`${path}: ${answers.length} of ${opts.take} answers in ${opts.timeoutMs ?? 10_000} ms`));
          }, opts.timeoutMs ?? 10_000);
          let cancelled = false;
          call.on('data', (b: Buffer) => {
            answers.push(b);
            if (opts.take !== undefined && answers.length >= opts.take && !cancelled) {
              cancelled = true;
              call.cancel();
            }
          });
          call.on('error', (err: ServiceError) => {
            clearTimeout(timer);
            resolve(cancelled ? null : err);
          });
          call.on('end', () => {
            clearTimeout(timer);
            resolve(null);
          });
          return;
        }
        default:
          reject(new Error(`${path}: bidi streams are not in the README`));
      }
    });
  }

  /** grpc-status-details-bin as google.rpc.Status, its Any details resolved through reflection. */
  private async status(err: ServiceError): Promise<Pick<Outcome, 'code' | 'message' | 'details'>> {
    const bin = err.metadata?.get('grpc-status-details-bin')[0];
    if (!bin) return { code: err.code, message: err.details, details: [] };
    const statusType = (await this.source.resolve('google.rpc.Status')).getMessage('google.rpc.Status')!;
    const status = fromBinary(statusType, bin as Buffer) as unknown as { code: number; message: string; details: { typeUrl: string }[] };
    for (const any of status.details) await this.source.resolve(any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1));
    const json = toJson(statusType, fromBinary(statusType, bin as Buffer), { registry: this.source.registry }) as { code?: number; message?: string; details?: JsonValue[] };
    if ((json.code ?? 0) !== err.code || (json.message ?? '') !== err.details) {
      throw new Error(`grpc-status-details-bin says ${json.code} "${json.message}", the status says ${err.code} "${err.details}"`);
    }
    return { code: err.code, message: err.details, details: json.details ?? [] };
  }
}

/** An Any's JSON with "@type" first, where grpcurl prints it. */
function typeFirst(any: JsonValue): JsonValue {
  if (any === null || typeof any !== 'object' || Array.isArray(any) || !('@type' in any)) return any;
  const { '@type': type, ...fields } = any;
  return { '@type': type, ...fields };
}

function splitMethod(target: string): [string, string] {
  const at = target.includes('/') ? target.lastIndexOf('/') : target.lastIndexOf('.');
  return [target.slice(0, at), target.slice(at + 1)];
}
