// A settings file's schema issues as problems: "backends[0].root: required". Strings found in the
// file are not repeated (a tokens file holds secrets); numbers and booleans are.
import type { z } from 'zod';
import { unknownName } from './suggest.js';

type Issue = z.core.$ZodIssue;

export interface FileWording {
  /** The keys accepted by the mapping at `path`, for unknown keys. */
  keysAt(path: readonly PropertyKey[]): readonly string[];
  /** What the whole file should be, e.g. "a mapping with backends: [...]". */
  expected: string;
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
};

export function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return 'a string';
  return String(value);
}

function bound(issue: Issue & { code: 'too_small' | 'too_big' }): string {
  const [limit, least] = issue.code === 'too_small' ? [issue.minimum, 'at least'] : [issue.maximum, 'at most'];
  const input = issue.input;
  switch (issue.origin) {
    case 'string':
      if (issue.code === 'too_small' && limit === 1) return 'must not be empty';
      return `must have ${least} ${limit} characters, got ${(input as string).length}`;
    case 'array':
      return `must list ${least} ${limit} ${limit === 1 ? 'entry' : 'entries'}, got ${(input as unknown[]).length}`;
    default: {
      const strict = issue.inclusive === false ? (issue.code === 'too_small' ? 'greater than' : 'less than') : least;
      return `must be ${strict} ${limit}, got ${kindOf(input)}`;
    }
  }
}

function messages(issue: Issue, wording: FileWording): { path: readonly PropertyKey[]; message: string }[] {
  const at = issue.path;
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined && at.length) return [{ path: at, message: 'required' }];
      return [{ path: at, message: `expected ${at.length ? (EXPECTED[issue.expected] ?? issue.expected) : wording.expected}, got ${kindOf(issue.input)}` }];
    case 'too_small':
    case 'too_big':
      return [{ path: at, message: bound(issue) }];
    case 'invalid_value': {
      const got = typeof issue.input === 'string' ? JSON.stringify(issue.input) : kindOf(issue.input);
      return [{ path: at, message: `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, got ${got}` }];
    }
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: [...at, key], message: unknownName('key', key, wording.keysAt(at)) }));
    default:
      return [{ path: at, message: issue.message }];
  }
}

/** One problem per issue (per key for unknown keys), each starting with `subject`. */
export function formatIssues(subject: string, issues: readonly Issue[], wording: FileWording): string[] {
  return issues.flatMap((issue) => messages(issue, wording)).map(({ path, message }) => `${subject}: ${path.length ? `${pathText(path)}: ` : ''}${message}`);
}
