// Rollups, no root hot spot (docs/architecture.md#performance-targets: with rollups, 16 writers in 16
// subtrees keep ≥ 80% of their rate with rollups off). Closed loop, 16 clients, each writing new 4 KiB
// files into its own subtree w<i>/a/b/, against two real servers on fresh PostgreSQL databases, back to
// back: FILESTORE_ROLLUPS=off, then on (workers in-process, BullMQ in the local Redis); twice,
// alternating, since the machine is noisy. For the "on" servers, after the load: how long until every
// delta is folded (rollup_deltas empty, polled in the server's database), and whether GetNode of the
// root then reports exactly what was written.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RollupState } from '../../gen/filestore/v1/node.js';
import { BACKEND_ID, type BenchClient } from '../lib/client.js';
import type { LoopResult } from '../lib/closed-loop.js';
import type { Settings } from '../lib/env.js';
import type { BenchRedis } from '../lib/redis.js';
import { startRollupServer } from '../lib/rollup-server.js';
import { entryName, unaryPoint } from './common.js';

export const ROLLUP_WRITERS = 16;
/** Directories the scenario creates: w<i>, w<i>/a, w<i>/a/b per writer. */
export const DIRS_PER_WRITER = 3;
const SETTLE_TIMEOUT_MS = 60_000;

export interface RollupRoot {
  fileCount: number;
  dirCount: number;
  sizeBytes: number;
  state: string;
}

/** GetNode of backend 1's root, its rollup flattened for the report (-1 / 'none' when absent). */
export async function rootRollup(client: BenchClient): Promise<RollupRoot> {
  const r = (await client.getNode({ backendId: BACKEND_ID, path: '', nodeId: 0 })).node?.rollup;
  return {
    fileCount: r?.fileCount ?? -1,
    dirCount: r?.dirCount ?? -1,
    sizeBytes: r?.sizeBytes ?? -1,
    state: r ? (RollupState[r.state] ?? String(r.state)).replace('ROLLUP_STATE_', '') : 'none',
  };
}

export interface WritersRun {
  rollups: 'on' | 'off';
  loop: LoopResult;
  /** Files written successfully, warm-up included (what the root must count). */
  filesWritten: number;
  /** Deltas waiting when the load stopped, and ms until none was left (on only; null: not settled in time). */
  deltasAtStop?: number;
  settleMs?: number | null;
  /** GetNode of the root afterwards. */
  root: RollupRoot;
  expected: { fileCount: number; dirCount: number; sizeBytes: number };
  exact: boolean;
}

export interface WritersPair {
  off: WritersRun;
  on: WritersRun;
  /** on.opsPerSec / off.opsPerSec. */
  ratio: number;
}

async function run(settings: Settings, redis: BenchRedis, dataDir: string, rollups: 'on' | 'off', log: (m: string) => void): Promise<WritersRun> {
  const s = await startRollupServer(settings, redis, dataDir, rollups);
  try {
    await Promise.all(Array.from({ length: ROLLUP_WRITERS }, (_, i) => s.client.createDirectory(`w${i}/a/b`, true)));
    const content = randomBytes(settings.smallFileBytes);
    let filesWritten = 0;
    const target = { kind: 'ours' as const, client: s.client, pid: s.served.pid, database: s.database };
    const loop = await unaryPoint({ target, settings }, ROLLUP_WRITERS, async (w, seq) => {
      const res = await s.client.write(`w${w}/a/b/${entryName(w, seq)}.bin`, content, content.length);
      if (res.node?.sizeBytes !== content.length) throw new Error(`WriteFile stored ${res.node?.sizeBytes} bytes, not ${content.length}`);
      filesWritten++;
    });
    const out: Partial<WritersRun> = { rollups, loop, filesWritten };
    if (rollups === 'on') {
      const t0 = performance.now();
      const pending = async () => Number((await s.db.query<{ n: string }>('SELECT count(*) AS n FROM rollup_deltas')).rows[0].n);
      out.deltasAtStop = await pending();
      out.settleMs = null;
      for (let n = out.deltasAtStop; performance.now() - t0 < SETTLE_TIMEOUT_MS; n = await pending()) {
        if (n === 0) {
          out.settleMs = performance.now() - t0;
          break;
        }
        await sleep(10);
      }
    }
    const root = await rootRollup(s.client);
    const expected = { fileCount: filesWritten, dirCount: ROLLUP_WRITERS * DIRS_PER_WRITER, sizeBytes: filesWritten * content.length };
    const exact = root.fileCount === expected.fileCount && root.dirCount === expected.dirCount && root.sizeBytes === expected.sizeBytes && root.state === 'UP_TO_DATE';
    log(
      `  rollups ${rollups}: ${loop.opsPerSec.toFixed(0)} ops/s` +
        (rollups === 'on' ? `, ${out.deltasAtStop} deltas at stop, settled in ${out.settleMs === null ? `> ${SETTLE_TIMEOUT_MS} ms` : `${out.settleMs!.toFixed(0)} ms`}` : '') +
        `; root ${root.fileCount} files / ${root.dirCount} dirs (${root.state}), expected ${expected.fileCount} / ${expected.dirCount}`,
    );
    return { ...(out as WritersRun), root, expected, exact };
  } finally {
    await s.stop();
  }
}

/** off, on, off, on: two pairs, each on fresh servers and databases. */
export async function rollupWriters(settings: Settings, redis: BenchRedis, dataDir: string, log: (m: string) => void): Promise<WritersPair[]> {
  const pairs: WritersPair[] = [];
  for (let i = 0; i < 2; i++) {
    const off = await run(settings, redis, dataDir, 'off', log);
    const on = await run(settings, redis, dataDir, 'on', log);
    pairs.push({ off, on, ratio: on.loop.opsPerSec / off.loop.opsPerSec });
  }
  return pairs;
}
