// A write load for tests that break something under a running server: writers doing
// CreateDirectory, small WriteFile and now and then MoveNode, each call bounded by a deadline and
// recorded (when it started and ended, its status code), with a model of what was acknowledged
// and of what is in doubt (the call failed: it may or may not have taken effect).
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { CreateDirectoryRequest, MoveNodeRequest, WriteFileHeader } from '../../gen/filestore/v1/filestore_service.js';
import type { TestClient } from './client.js';

export type Op = 'CreateDirectory' | 'WriteFile' | 'MoveNode';

export interface CallRecord {
  writer: number;
  op: Op;
  path: string;
  /** performance.now() at the call's start and end. */
  startedAt: number;
  endedAt: number;
  /** The gRPC status code: 0 (OK) when acknowledged. */
  code: number;
}

export type Expected = { kind: 'DIRECTORY' } | { kind: 'FILE'; size: number; sha256: string };

/** A failed command: its path(s) may hold the new state or the old one, nothing else. */
export type Doubt =
  | { op: 'CreateDirectory'; path: string }
  | { op: 'WriteFile'; path: string; expected: Expected }
  | { op: 'MoveNode'; from: string; to: string; expected: Expected };

/** Small file content of its own for each path. */
export function fileContent(p: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0, i = 0; at < size; at += 32, i++) createHash('sha256').update(`${p}#${i}`).digest().copy(out, at);
  return out;
}

export const grpcStatusName = (code: number) => grpcStatus[code] ?? `CODE_${code}`;

export interface WriteLoadOptions {
  writers: number;
  /** Each call's deadline. */
  deadlineMs: number;
  /** A writer's pause after a failed call, so that an outage does not turn into a busy loop. */
  pauseAfterFailureMs: number;
}

export class WriteLoad {
  readonly calls: CallRecord[] = [];
  /** Paths whose last command was acknowledged, with what they hold. */
  readonly acknowledged = new Map<string, Expected>();
  readonly inDoubt: Doubt[] = [];
  private stopping = false;
  private running: Promise<void>[] = [];

  constructor(
    private readonly c: TestClient,
    private readonly opts: WriteLoadOptions,
  ) {}

  /** Creates each writer's directory (these must succeed) and starts the writers. */
  async start(): Promise<void> {
    await Promise.all(
      Array.from({ length: this.opts.writers }, async (_, w) => {
        if (!(await this.createDirectory(w, `w${w}`))) throw new Error(`CreateDirectory w${w} failed before the load started`);
      }),
    );
    this.running = Array.from({ length: this.opts.writers }, (_, w) => this.writer(w));
  }

  /** Lets every writer finish its call in flight, then returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  private async writer(w: number): Promise<void> {
    let dir = `w${w}`;
    const movable: string[] = [];
    for (let i = 0; !this.stopping; i++) {
      let ok: boolean;
      if (i % 6 === 5) {
        const p = `w${w}/d${i}`;
        ok = await this.createDirectory(w, p);
        if (ok) dir = p;
      } else if (i % 8 === 7 && movable.length) {
        const from = movable.shift()!;
        const to = `${dir}/m${i}.txt`;
        ok = await this.move(w, from, to);
        if (ok) movable.push(to);
      } else {
        const p = `${dir}/f${i}.txt`;
        ok = await this.write(w, p, fileContent(p, 64 + ((w * 97 + i * 31) % 1500)));
        if (ok) movable.push(p);
      }
      if (!ok) await sleep(this.opts.pauseAfterFailureMs);
    }
  }

  private async createDirectory(w: number, p: string): Promise<boolean> {
    const req = CreateDirectoryRequest.fromPartial({ backendId: 1, path: p });
    const ok = await this.record(w, 'CreateDirectory', p, (m, o, cb) => this.c.files.createDirectory(req, m, o, cb));
    if (ok) this.acknowledged.set(p, { kind: 'DIRECTORY' });
    else this.inDoubt.push({ op: 'CreateDirectory', path: p });
    return ok;
  }

  private async write(w: number, p: string, data: Buffer): Promise<boolean> {
    const expected: Expected = { kind: 'FILE', size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    const ok = await this.record(w, 'WriteFile', p, (m, o, cb) => {
      const stream = this.c.files.writeFile(m, o, cb);
      stream.write({ header: WriteFileHeader.fromPartial({ backendId: 1, path: p }) });
      stream.write({ chunk: data });
      stream.end();
    });
    if (ok) this.acknowledged.set(p, expected);
    else this.inDoubt.push({ op: 'WriteFile', path: p, expected });
    return ok;
  }

  private async move(w: number, from: string, to: string): Promise<boolean> {
    const expected = this.acknowledged.get(from)!;
    const req = MoveNodeRequest.fromPartial({ backendId: 1, path: from, targetPath: to });
    const ok = await this.record(w, 'MoveNode', `${from} -> ${to}`, (m, o, cb) => this.c.files.moveNode(req, m, o, cb));
    this.acknowledged.delete(from);
    if (ok) this.acknowledged.set(to, expected);
    else this.inDoubt.push({ op: 'MoveNode', from, to, expected });
    return ok;
  }

  /** Runs one call with the deadline, records it, and tells whether it was acknowledged. */
  private async record(
    writer: number,
    op: Op,
    path: string,
    send: (m: Metadata, o: { deadline: number }, cb: (err: ServiceError | null) => void) => void,
  ): Promise<boolean> {
    const startedAt = performance.now();
    const code = await new Promise<number>((resolve) => {
      try {
        send(this.c.metadata(), { deadline: Date.now() + this.opts.deadlineMs }, (err) => resolve(err ? err.code : grpcStatus.OK));
      } catch {
        resolve(grpcStatus.INTERNAL);
      }
    });
    this.calls.push({ writer, op, path, startedAt, endedAt: performance.now(), code });
    return code === grpcStatus.OK;
  }
}
