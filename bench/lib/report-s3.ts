// The S3 section of the report: upload and download through the server against the raw AWS SDK.
import type { S3Result } from '../scenarios/s3.js';
import { fmtMiB, renderTable, round } from './table.js';
import { S3_VS_RAW_SDK } from './targets.js';

export function s3Report(r: S3Result, fmtCpu: (c: S3Result['upload']['ours']['cpu']) => string): { text: string; json: Record<string, unknown> } {
  const rows: string[][] = [];
  const json: Record<string, unknown> = {};
  for (const [name, p] of [['S3 upload (WriteFile)', r.upload], ['S3 download (ReadFile)', r.download]] as const) {
    const ratio = p.ours.MiBps / p.raw.MiBps;
    const met = ratio >= S3_VS_RAW_SDK.min;
    rows.push([name, fmtMiB(p.ours.MiBps), fmtCpu(p.ours.cpu), fmtMiB(p.raw.MiBps), `${Math.round(ratio * 100)}%`, S3_VS_RAW_SDK.text, met ? 'met' : 'MISSED']);
    json[name.startsWith('S3 upload') ? 'upload' : 'download'] = {
      oursMiBps: round(p.ours.MiBps, 1),
      oursRuns: p.ours.runs.map((x) => round(x, 1)),
      rawMiBps: round(p.raw.MiBps, 1),
      rawRuns: p.raw.runs.map((x) => round(x, 1)),
      ratio: round(ratio, 3),
      met,
    };
  }
  const text = [
    'S3 (s3rver in a process of its own; the raw AWS SDK to the same s3rver in the same run: lib-storage Upload, 8 MiB parts, 1 in flight; one GetObject)',
    renderTable(['scenario', 'ours MiB/s', 'cpu s/c/db/x', 'raw SDK MiB/s', 'ours/raw', 'target', ''], rows, [false, true, true, true, true, false, false]),
  ].join('\n');
  return { text, json };
}
