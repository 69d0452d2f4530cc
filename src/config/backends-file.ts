// The backends: from the file FILESTORE_BACKENDS_PATH names, or the default one under the data
// directory. A root that does not exist is refused unless the entry says `create: true`: a missing
// mount point would otherwise be created on the root disk and written to there.
import { statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { fileSubject, readSettingsFile } from './settings-file.js';
import { formatIssues, pathText } from './zod-issues.js';

export interface BackendConfig {
  id: number;
  name: string;
  kind: 'local';
  /** Absolute. */
  root: string;
  readOnly: boolean;
  /** Create the root when it is missing (otherwise a missing root, e.g. an unmounted volume, is refused). */
  create: boolean;
}

const VARIABLE = 'FILESTORE_BACKENDS_PATH';

const entrySchema = z
  .strictObject({
    id: z.number().int().positive(),
    name: z.string().min(1),
    kind: z.literal('local'),
    root: z.string().min(1),
    readOnly: z.boolean().optional(),
    /** The proto's spelling. */
    read_only: z.boolean().optional(),
    create: z.boolean().default(false),
  })
  .superRefine((b, ctx) => {
    if (b.readOnly !== undefined && b.read_only !== undefined && b.readOnly !== b.read_only) {
      ctx.addIssue({ code: 'custom', message: `readOnly: ${b.readOnly} and read_only: ${b.read_only} disagree; give one of them` });
    }
  });

/** Entries are checked one by one, so that one bad entry does not hide the others' problems. */
const fileSchema = z.strictObject({ backends: z.array(z.unknown()).min(1) });

const WORDING = {
  expected: 'a mapping with backends: [{id, name, kind: local, root}]',
  keysAt: (at: readonly PropertyKey[]) => (at.length ? Object.keys(entrySchema.shape) : Object.keys(fileSchema.shape)),
};

export function defaultBackend(dataDir: string): BackendConfig {
  return { id: 1, name: 'default', kind: 'local', root: path.join(dataDir, 'data'), readOnly: false, create: true };
}

/** Why `root` cannot be used, or null. */
function rootProblem(root: string, create: boolean): string | null {
  try {
    return statSync(root).isDirectory() ? null : `root ${root} is not a directory`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return create ? null : `root ${root} does not exist; mount it, create it, or set create: true`;
    if (code === 'ENOTDIR') return `root ${root} cannot exist: a parent of it is not a directory`;
    return `root ${root} cannot be checked (${code})`;
  }
}

function readEntries(subject: string, entries: unknown[]): { backends: BackendConfig[]; problems: string[] } {
  const backends: BackendConfig[] = [];
  const problems: string[] = [];
  const indexOfId = new Map<number, number>();
  entries.forEach((entry, i) => {
    const parsed = entrySchema.safeParse(entry, { reportInput: true });
    if (!parsed.success) {
      problems.push(...formatIssues(subject, parsed.error.issues.map((issue) => ({ ...issue, path: ['backends', i, ...issue.path] })), WORDING));
      return;
    }
    const { read_only, readOnly, ...b } = parsed.data;
    const backend = { ...b, root: path.resolve(b.root), readOnly: readOnly ?? read_only ?? false };
    const where = `${subject}: ${pathText(['backends', i])} (id ${b.id})`;
    const first = indexOfId.get(b.id);
    if (first !== undefined) problems.push(`${where}: backends[${first}] has this id already; ids must be unique`);
    else indexOfId.set(b.id, i);
    const root = rootProblem(backend.root, backend.create);
    if (root) problems.push(`${where}: ${root}`);
    backends.push(backend);
  });
  return { backends, problems };
}

/** The backends of the file `file`, each root resolved against the working directory, or the file's problems. */
export function readBackendsFile(file: string): { backends: BackendConfig[]; problems: string[] } {
  const read = readSettingsFile(VARIABLE, file);
  if (!read.ok) return { backends: [], problems: [read.problem] };
  const subject = fileSubject(VARIABLE, file);
  const parsed = fileSchema.safeParse(read.value, { reportInput: true });
  const problems = parsed.success ? [] : formatIssues(subject, parsed.error.issues, WORDING);
  // An unknown key beside a list of backends does not stop the entries from being checked.
  const list = parsed.success ? parsed.data.backends : (read.value as { backends?: unknown } | null)?.backends;
  if (!Array.isArray(list) || !list.length) return { backends: [], problems };
  const entries = readEntries(subject, list);
  return { backends: entries.backends, problems: [...problems, ...entries.problems] };
}
