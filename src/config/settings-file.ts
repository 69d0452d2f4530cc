// Reading a JSON or YAML file that an environment setting names (FILESTORE_BACKENDS_PATH,
// FILESTORE_TOKENS_PATH): a missing, unreadable or malformed file is one problem, with the
// parser's line and column.
import { readFileSync } from 'node:fs';
import YAML, { YAMLParseError } from 'yaml';

export type FileRead = { ok: true; value: unknown } | { ok: false; problem: string };

/** How a problem of the file starts: "FILESTORE_BACKENDS_PATH (/etc/fs/backends.yaml)". */
export const fileSubject = (variable: string, file: string) => `${variable} (${file})`;

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'the file does not exist',
  EACCES: 'the file cannot be read (permission denied)',
  EISDIR: 'this is a directory; name a JSON or YAML file',
  ENOTDIR: 'a parent of this path is not a directory',
};

/** V8 repeats the whole text in some messages (`Unexpected token '}', "{…}" is not valid JSON`) and may quote a newline. */
function jsonReason(message: string): string {
  const reason = message.replace(/, (\.\.\.)?".*" is not valid JSON$/s, '').replace(/( in JSON)? at position \d+.*$/s, '');
  return reason.replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function lineAndColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

/** Where JSON.parse failed: from its message when it says, else from the YAML parser's JSON mode. */
function jsonErrorPosition(text: string, message: string): { line: number; col: number } | null {
  const at = /at position (\d+)/.exec(message);
  if (at) return lineAndColumn(text, Number(at[1]));
  if (message.includes('end of JSON input')) return lineAndColumn(text, text.length);
  try {
    YAML.parse(text, { schema: 'json' });
  } catch (err) {
    if (err instanceof YAMLParseError && err.linePos) return err.linePos[0];
  }
  return null;
}

/** The parser's reason; none for a file of secrets, as some reasons quote the text. */
const reasonShown = (reason: string, secret: boolean) => (secret ? '' : `: ${reason.replace(/^./, (c) => c.toLowerCase())}`);

function parse(file: string, text: string, secret: boolean): FileRead {
  if (file.endsWith('.json')) {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (err) {
      const message = (err as Error).message;
      const pos = jsonErrorPosition(text, message);
      const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
      return { ok: false, problem: `not valid JSON${where}${reasonShown(jsonReason(message), secret)}` };
    }
  }
  try {
    return { ok: true, value: YAML.parse(text) };
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    const [first] = err.message.split('\n'); // the lines after it quote the file
    const reason = first.replace(/ at line \d+, column \d+:?$/, '');
    const where = err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
    return { ok: false, problem: `not valid YAML${where}${reasonShown(reason, secret)}` };
  }
}

/** `secret`: the file holds secrets, so a syntax error is reported by its line and column only. */
export function readSettingsFile(variable: string, file: string, { secret = false } = {}): FileRead {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    return { ok: false, problem: `${fileSubject(variable, file)}: ${READ_ERRORS[code] ?? `the file cannot be read (${code})`}` };
  }
  const read = parse(file, text, secret);
  return read.ok ? read : { ok: false, problem: `${fileSubject(variable, file)}: ${read.problem}` };
}
