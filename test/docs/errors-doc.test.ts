// docs/errors.md stays complete: every reason that src/ passes to a domain-error factory
// (invalidArgument, notFound, …) or to `new FilestoreError` must have a row there, under the status
// code the code sends it with. The source is read as text; a reason the scan cannot read (built at
// run time) fails the test too, so nothing escapes it.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const FACTORIES: Record<string, string> = {
  invalidArgument: 'INVALID_ARGUMENT',
  notFound: 'NOT_FOUND',
  alreadyExists: 'ALREADY_EXISTS',
  failedPrecondition: 'FAILED_PRECONDITION',
  aborted: 'ABORTED',
  outOfRange: 'OUT_OF_RANGE',
  permissionDenied: 'PERMISSION_DENIED',
  unauthenticated: 'UNAUTHENTICATED',
  resourceExhausted: 'RESOURCE_EXHAUSTED',
  unavailable: 'UNAVAILABLE',
  unimplemented: 'UNIMPLEMENTED',
  internal: 'INTERNAL',
};
const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
// Where the factories and the error class are defined, not used.
const DEFINITIONS = new Set(['src/errors/domain-error.ts']);

interface Sent {
  code: string;
  reason: string;
  where: string;
}

interface Scan {
  sent: Sent[];
  /** Calls whose reason is not a string literal or a string constant. */
  unreadable: string[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const literal = (arg: string): string | null => /^(['"`])([A-Z][A-Z0-9_]*)\1$/.exec(arg.trim())?.[2] ?? null;

/** Scans `files` (repository-relative path → text) for the reasons they send. */
function scanSources(files: Map<string, string>): Scan {
  const constants = new Map<string, string>();
  for (const text of files.values()) {
    for (const m of text.matchAll(/\bconst ([A-Z][A-Z0-9_]*)\s*=\s*'([A-Z][A-Z0-9_]*)'/g)) constants.set(m[1], m[2]);
  }
  const resolve = (arg: string) => literal(arg) ?? constants.get(arg.trim()) ?? null;
  const sent: Sent[] = [];
  const unreadable: string[] = [];
  const factoryCall = new RegExp(`(?<![\\w$.])(${Object.keys(FACTORIES).join('|')})\\(\\s*([^,)]*)`, 'g');
  for (const [file, text] of files) {
    if (DEFINITIONS.has(file)) continue;
    const lineOf = (index: number) => `${file}:${text.slice(0, index).split('\n').length}`;
    for (const m of text.matchAll(factoryCall)) {
      const reason = resolve(m[2]);
      if (reason) sent.push({ code: FACTORIES[m[1]], reason, where: lineOf(m.index) });
      else unreadable.push(`${lineOf(m.index)}: ${m[1]}(${m[2].trim()}, …)`);
    }
    for (const m of text.matchAll(/new FilestoreError\(\s*([^,)]*),\s*([^,)]*)/g)) {
      const code = literal(m[1]);
      const reason = resolve(m[2]);
      if (code && reason) sent.push({ code, reason, where: lineOf(m.index) });
      else unreadable.push(`${lineOf(m.index)}: new FilestoreError(${m[1].trim()}, ${m[2].trim()}, …)`);
    }
  }
  return { sent, unreadable };
}

/** reason → the status codes the doc's tables list it under (first cell: status, second: reasons). */
function documented(doc: string): Map<string, Set<string>> {
  const byReason = new Map<string, Set<string>>();
  for (const line of doc.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !/^[A-Z_]+$/.test(cells[1])) continue;
    for (const m of cells[2].matchAll(/`([A-Z][A-Z0-9_]*)`/g)) {
      if (!byReason.has(m[1])) byReason.set(m[1], new Set());
      byReason.get(m[1])!.add(cells[1]);
    }
  }
  return byReason;
}

/** What the doc lacks: reasons it does not list at all, and reasons listed under other codes only. */
function gaps(scan: Scan, doc: string): { missing: string[]; wrongCode: string[] } {
  const rows = documented(doc);
  const missing = new Set<string>();
  const wrongCode = new Set<string>();
  for (const s of scan.sent) {
    const codes = rows.get(s.reason);
    if (!codes) missing.add(`${s.reason} (${s.code}, ${s.where})`);
    else if (!codes.has(s.code)) wrongCode.add(`${s.reason} is sent as ${s.code} (${s.where}); the doc lists it under ${[...codes].join(', ')}`);
  }
  return { missing: [...missing], wrongCode: [...wrongCode] };
}

const SOURCES = new Map(sourceFiles(path.join(REPO_ROOT, 'src')).map((f) => [path.relative(REPO_ROOT, f), readFileSync(f, 'utf8')]));
const DOC = readFileSync(path.join(REPO_ROOT, 'docs/errors.md'), 'utf8');
const scan = scanSources(SOURCES);

test('the scan reads every reason src/ sends', (t) => {
  t.deepEqual(scan.unreadable, [], 'pass the reason as a string literal or a string constant, so this scan can read it');
  // A scan that quietly matched nothing would pass everything below.
  const reasons = new Set(scan.sent.map((s) => s.reason));
  t.true(reasons.size >= 50, `only ${reasons.size} reasons found`);
  t.true(scan.sent.some((s) => s.reason === 'PATH_INVALID' && s.code === 'INVALID_ARGUMENT'), 'a reason held in a constant is read');
  t.true(scan.sent.some((s) => s.reason === 'INTERNAL' && s.code === 'INTERNAL'), 'new FilestoreError is read');
});

test('docs/errors.md lists every reason src/ sends, under its status code', (t) => {
  const { missing, wrongCode } = gaps(scan, DOC);
  const problems = [...missing.map((m) => `missing: ${m}`), ...wrongCode];
  t.deepEqual(problems, [], 'give each reason a row in docs/errors.md: status, reason, when, what to do');
});

test('the check notices a reason left out of the doc, or listed under another status', (t) => {
  // A doc made from the scan itself, so that this test does not depend on the real page's wording.
  const row = (code: string, reason: string) => `| ${code} | \`${reason}\` | when | what to do |`;
  const complete = scan.sent.map((s) => row(s.code, s.reason));
  t.deepEqual(gaps(scan, complete.join('\n')), { missing: [], wrongCode: [] });
  const left = complete.filter((r) => !r.includes('`BACKEND_STAGING_MISSING`')).join('\n');
  t.true(gaps(scan, left).missing.some((m) => m.startsWith('BACKEND_STAGING_MISSING (FAILED_PRECONDITION, src/')));
  const moved = [...complete.filter((r) => !r.includes('`CURSOR_AHEAD`')), row('NOT_FOUND', 'CURSOR_AHEAD')].join('\n');
  t.true(gaps(scan, moved).wrongCode.some((m) => m.startsWith('CURSOR_AHEAD is sent as INVALID_ARGUMENT')));
  const computed = scanSources(new Map([['src/x.ts', "throw notFound(`${kind}_NOT_FOUND`, 'gone');"]]));
  t.deepEqual(computed.unreadable, ['src/x.ts:1: notFound(`${kind}_NOT_FOUND`, …)']);
});
