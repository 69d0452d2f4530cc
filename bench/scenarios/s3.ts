// S3: a large upload and download through the real server on an S3 backend, against the raw AWS SDK
// doing the same to the same s3rver (a child process of its own) in the same run: lib-storage's
// Upload with the server's part size and parts in flight, and one streamed GetObject. Runs
// alternate (raw, ours, raw, ours, …); the median is reported.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BenchClient } from '../lib/client.js';
import { createDatabase } from '../lib/databases.js';
import type { Settings } from '../lib/env.js';
import { cpuWindow, serve, type CpuShare } from '../lib/proc.js';
import { realServer } from '../lib/server.js';
import { MiB } from './common.js';

export interface S3Point {
  raw: { MiBps: number; runs: number[]; cpu: CpuShare };
  ours: { MiBps: number; runs: number[]; cpu: CpuShare };
}

export interface S3Result {
  upload: S3Point;
  download: S3Point;
}

const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
const PART = 8 * MiB; // the server's part size and parts in flight (src/backends/s3.ts)
const PARTS_IN_FLIGHT = 1;
const BUCKET = 'bench';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function* chunks(chunk: Buffer, bytes: number): Generator<Buffer> {
  for (let sent = 0; sent < bytes; sent += chunk.length) yield bytes - sent >= chunk.length ? chunk : chunk.subarray(0, bytes - sent);
}

export async function s3Scenario(settings: Settings, dataDir: string, log: (m: string) => void): Promise<S3Result> {
  Object.assign(process.env, CREDENTIALS, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  const dir = path.join(dataDir, 's3rver');
  await mkdir(dir, { recursive: true });
  const s3 = await serve('s3rver', 'bench/s3/server.ts', { S3RVER_DIR: dir }, /"s3rver":"serving","port":(\d+)/);
  const endpoint = `http://${s3.address}`;
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const backends = path.join(dataDir, 's3-backends.yaml');
  await writeFile(backends, `backends:\n  - { id: 1, name: s3, kind: s3, bucket: ${BUCKET}, prefix: ours, region: us-east-1, endpoint: "${endpoint}", forcePathStyle: true }\n`);
  const db = settings.db === 'pg' ? await createDatabase(settings.adminUrl, 's3') : null;
  const ours = await realServer(path.join(dataDir, 's3-server'), db?.url ?? null, { FILESTORE_BACKENDS_PATH: backends, ...CREDENTIALS });
  const bench = new BenchClient(ours.address);
  const { streamBytes: bytes, chunkBytes } = settings;
  const chunk = Buffer.alloc(chunkBytes, 7);
  log(`  s3rver pid ${s3.pid} at ${endpoint}; server pid ${ours.pid}; ${bytes / MiB} MiB, ${settings.streamRuns} runs each`);

  const rawUpload = () =>
    new Upload({ client, params: { Bucket: BUCKET, Key: 'raw/big.bin', Body: Readable.from(chunks(chunk, bytes), { objectMode: false }) }, partSize: PART, queueSize: PARTS_IN_FLIGHT }).done();
  const oursUpload = async () => {
    const res = await bench.write('big.bin', chunk, bytes, { overwrite: true });
    if (res.node?.sizeBytes !== bytes) throw new Error(`S3 upload stored ${res.node?.sizeBytes} bytes, not ${bytes}`);
  };
  const rawDownload = async () => {
    const res = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'raw/big.bin' }));
    let n = 0;
    for await (const part of res.Body as AsyncIterable<Uint8Array>) n += part.byteLength;
    if (n !== bytes) throw new Error(`raw download got ${n} bytes`);
  };
  const oursDownload = async () => {
    const { bytes: n } = await bench.read({ backendId: 1, path: 'big.bin', nodeId: 0, offset: 0, length: bytes });
    if (n !== bytes) throw new Error(`S3 download got ${n} bytes`);
  };

  const point = async (raw: () => Promise<unknown>, mine: () => Promise<unknown>): Promise<S3Point> => {
    await raw();
    await mine(); // warm-up
    const runs = { raw: [] as number[], ours: [] as number[] };
    const cpu = { raw: [] as CpuShare[], ours: [] as CpuShare[] };
    for (let i = 0; i < settings.streamRuns; i++) {
      for (const [k, fn, pid] of [['raw', raw, s3.pid], ['ours', mine, ours.pid]] as const) {
        const stop = cpuWindow(pid, db?.name);
        const t0 = performance.now();
        await fn();
        runs[k].push(bytes / MiB / ((performance.now() - t0) / 1000));
        cpu[k].push(stop());
      }
    }
    const last = (k: 'raw' | 'ours') => cpu[k][cpu[k].length - 1]!;
    return { raw: { MiBps: median(runs.raw), runs: runs.raw, cpu: last('raw') }, ours: { MiBps: median(runs.ours), runs: runs.ours, cpu: last('ours') } };
  };
  try {
    const upload = await point(rawUpload, oursUpload);
    log(`  upload: raw SDK ${upload.raw.MiBps.toFixed(0)} MiB/s, ours ${upload.ours.MiBps.toFixed(0)} MiB/s`);
    const download = await point(rawDownload, oursDownload);
    log(`  download: raw SDK ${download.raw.MiBps.toFixed(0)} MiB/s, ours ${download.ours.MiBps.toFixed(0)} MiB/s`);
    return { upload, download };
  } finally {
    bench.close();
    client.destroy();
    await ours.stop();
    await s3.stop();
    await db?.drop();
  }
}
