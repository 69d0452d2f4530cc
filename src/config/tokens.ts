// Bearer tokens: FILESTORE_TOKENS (principal:token,…) and the file FILESTORE_TOKENS_PATH names.
// A message never repeats a token: it names the entry, its principal and the token's length.
import { z } from 'zod';
import { fileSubject, readSettingsFile } from './settings-file.js';
import { formatIssues } from './zod-issues.js';

export const MIN_TOKEN_LENGTH = 16;
const INLINE = 'FILESTORE_TOKENS';
const FILE = 'FILESTORE_TOKENS_PATH';

const tokenSchema = z.strictObject({ principal: z.string().min(1), token: z.string().min(1) });
const fileSchema = z.strictObject({ tokens: z.array(tokenSchema) });

const WORDING = {
  expected: 'a mapping with tokens: [{principal, token}]',
  keysAt: (at: readonly PropertyKey[]) => (at.length ? Object.keys(tokenSchema.shape) : Object.keys(fileSchema.shape)),
};

interface Entry {
  principal: string;
  token: string;
  /** How its problems start: "FILESTORE_TOKENS: entry 2 (principal ops)". */
  where: string;
  /** How another entry's problem names it: "FILESTORE_TOKENS entry 2 (principal ops)". */
  name: string;
}

function inlineEntries(inline: string, problems: string[]): Entry[] {
  const entries: Entry[] = [];
  inline
    .split(',')
    .map((s) => s.trim())
    .forEach((pair, i) => {
      if (!pair) return;
      const at = pair.indexOf(':');
      if (at <= 0 || at === pair.length - 1) {
        problems.push(`${INLINE}: entry ${i + 1} is not principal:token`);
        return;
      }
      const principal = pair.slice(0, at);
      const entry = `entry ${i + 1} (principal ${principal})`;
      entries.push({ principal, token: pair.slice(at + 1), where: `${INLINE}: ${entry}`, name: `${INLINE} ${entry}` });
    });
  return entries;
}

function fileEntries(file: string, problems: string[]): Entry[] {
  const read = readSettingsFile(FILE, file, { secret: true });
  if (!read.ok) {
    problems.push(read.problem);
    return [];
  }
  const subject = fileSubject(FILE, file);
  const parsed = fileSchema.safeParse(read.value, { reportInput: true });
  if (!parsed.success) {
    problems.push(...formatIssues(subject, parsed.error.issues, WORDING));
    return [];
  }
  return parsed.data.tokens.map((t, i) => {
    const entry = `tokens[${i}] (principal ${t.principal})`;
    return { ...t, where: `${subject}: ${entry}`, name: `${entry} of ${FILE}` };
  });
}

export interface Tokens {
  /** token → principal. */
  tokens: Map<string, string>;
  /** Problems of FILESTORE_TOKENS. */
  inlineProblems: string[];
  /** Problems of the file (a token given twice counts against the later entry). */
  fileProblems: string[];
}

/** The tokens of both settings; problems for malformed entries, short tokens and a token given twice. */
export function readTokens(inline: string | undefined, file: string | undefined): Tokens {
  const result: Tokens = { tokens: new Map(), inlineProblems: [], fileProblems: [] };
  const firstWithToken = new Map<string, Entry>();
  const add = (entries: Entry[], problems: string[]) => {
    for (const e of entries) {
      const first = firstWithToken.get(e.token);
      if (e.token.length < MIN_TOKEN_LENGTH) problems.push(`${e.where}: the token has ${e.token.length} characters; tokens need at least ${MIN_TOKEN_LENGTH}`);
      else if (first) problems.push(`${e.where}: the same token as ${first.name}; give each entry a token of its own`);
      else {
        firstWithToken.set(e.token, e);
        result.tokens.set(e.token, e.principal);
      }
    }
  };
  add(inlineEntries(inline ?? '', result.inlineProblems), result.inlineProblems);
  if (file) add(fileEntries(file, result.fileProblems), result.fileProblems);
  return result;
}
