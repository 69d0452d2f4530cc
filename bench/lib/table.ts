// Plain-text tables and number formatting for the report.

export function renderTable(headers: string[], rows: string[][], rightAligned: boolean[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export const fmtInt = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '—' : Math.round(n).toLocaleString('en-US'));
export const fmtMs = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(n < 10 ? 2 : 1));
export const fmtPct = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '—' : `${Math.round(n * 100)}%`);
export const fmtMiB = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(n < 100 ? 1 : 0));
/** Rounded for the JSON summary. */
export const round = (n: number, digits = 2): number => (Number.isFinite(n) ? Number(n.toFixed(digits)) : n);
