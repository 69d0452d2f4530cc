// The backends: from the file FILESTORE_BACKENDS_PATH names, or the default one under the data
// directory. A root that does not exist is refused unless the entry says `create: true`: a missing
// mount point would otherwise be created on the root disk and written to there.
import { statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { fileSubject, readSettingsFile } from './settings-file.js';
import { formatIssues, pathText } from './zod-issues.js';

interface CommonBackendConfig {
  id: number;
  name: string;
  readOnly: boolean;
}

export interface LocalBackendConfig extends CommonBackendConfig {
  kind: 'local';
  /** Absolute. */
  root: string;
  /** Create the root when it is missing (otherwise a missing root, e.g. an unmounted volume, is refused). */
  create: boolean;
}

/** Credentials come from the AWS SDK's default chain (environment, profiles, instance roles), never from this file. */
export interface S3BackendConfig extends CommonBackendConfig {
  kind: 's3';
  bucket: string;
  /** Keys are `<prefix>/<path>`; none: the whole bucket. */
  prefix?: string;
  region: string;
  /** Another S3 API (MinIO, s3rver); none: AWS. */
  endpoint?: string;
  forcePathStyle: boolean;
}

/** One entry of the backends file, by `kind`; src/backends/factory.ts opens each. */
export type BackendConfig = LocalBackendConfig | S3BackendConfig;

const VARIABLE = 'FILESTORE_BACKENDS_PATH';

const id = { id: z.number().int().positive(), name: z.string().min(1) };
const readOnly = {
  readOnly: z.boolean().optional(),
  /** The proto's spelling. */
  read_only: z.boolean().optional(),
};

const KINDS = ['local', 's3'] as const;

const localSchema = z.strictObject({
  ...id,
  kind: z.enum(KINDS),
  root: z.string().min(1),
  ...readOnly,
  create: z.boolean().default(false),
});

// A bucket name as S3 allows it (3–63 lowercase letters, digits, dots, hyphens).
const BUCKET = /^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const s3Schema = z.strictObject({
  ...id,
  kind: z.literal('s3'),
  bucket: z.string().regex(BUCKET, 'must be a bucket name: 3–63 lowercase letters, digits, "." or "-"'),
  prefix: z
    .string()
    .max(512)
    .refine(
      (p) => p.replace(/^\/+|\/+$/g, '').split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..' && seg.toLowerCase() !== '.filestore' && !seg.includes('\\')),
      'must be segments separated by "/", without empty, ".", ".." or ".filestore" segments or backslashes',
    )
    .optional(),
  region: z.string().regex(/^[a-z0-9-]+$/, 'must be a region name such as us-east-1'),
  endpoint: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL (the S3 API of MinIO, s3rver, …)' })
    .refine((u) => !new URL(u).username && !new URL(u).password, 'must not hold credentials: they come from the AWS SDK\'s default chain (AWS_ACCESS_KEY_ID, profiles, roles)')
    .optional(),
  forcePathStyle: z.boolean().default(false),
  ...readOnly,
});

function readOnlyOf(b: { readOnly?: boolean; read_only?: boolean }): { readOnly: boolean } | { problem: string } {
  if (b.readOnly !== undefined && b.read_only !== undefined && b.readOnly !== b.read_only) {
    return { problem: `readOnly: ${b.readOnly} and read_only: ${b.read_only} disagree; give one of them` };
  }
  return { readOnly: b.readOnly ?? b.read_only ?? false };
}

/** The schema for an entry: by its kind (an unknown kind is reported by the local schema's enum). */
const schemaFor = (entry: unknown) => ((entry as { kind?: unknown } | null)?.kind === 's3' ? s3Schema : localSchema);

/** Entries are checked one by one, so that one bad entry does not hide the others' problems. */
const fileSchema = z.strictObject({ backends: z.array(z.unknown()).min(1) });

const WORDING = {
  expected: 'a mapping with backends: [{id, name, kind: local, root} or {id, name, kind: s3, bucket, region}]',
  keysAt: (at: readonly PropertyKey[]) => (at.length ? Object.keys(localSchema.shape) : Object.keys(fileSchema.shape)),
};

export function defaultBackend(dataDir: string): LocalBackendConfig {
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
    const schema = schemaFor(entry);
    const wording = { ...WORDING, keysAt: (at: readonly PropertyKey[]) => (at.length ? Object.keys(schema.shape) : Object.keys(fileSchema.shape)) };
    const parsed = schema.safeParse(entry, { reportInput: true });
    if (!parsed.success) {
      problems.push(...formatIssues(subject, parsed.error.issues.map((issue) => ({ ...issue, path: ['backends', i, ...issue.path] })), wording));
      return;
    }
    const where = `${subject}: ${pathText(['backends', i])} (id ${parsed.data.id})`;
    const first = indexOfId.get(parsed.data.id);
    if (first !== undefined) problems.push(`${where}: backends[${first}] has this id already; ids must be unique`);
    else indexOfId.set(parsed.data.id, i);
    const ro = readOnlyOf(parsed.data);
    if ('problem' in ro) {
      problems.push(`${subject}: ${pathText(['backends', i])}: ${ro.problem}`);
      return;
    }
    const { read_only: _r, readOnly: _o, ...b } = parsed.data;
    if (b.kind === 's3') {
      backends.push({ ...(b as z.infer<typeof s3Schema>), readOnly: ro.readOnly });
      return;
    }
    const local = b as z.infer<typeof localSchema>;
    const backend: LocalBackendConfig = { ...local, kind: 'local', root: path.resolve(local.root), readOnly: ro.readOnly };
    const root = rootProblem(backend.root, backend.create);
    if (root) problems.push(`${where}: ${root}`);
    backends.push(backend);
  });
  problems.push(...overlappingBuckets(subject, backends));
  return { backends, problems };
}

/**
 * Two S3 backends whose keys could meet (one bucket, one prefix at or below the other's): each would
 * take the other's objects for its own, its .filestore/ included.
 */
function overlappingBuckets(subject: string, backends: BackendConfig[]): string[] {
  const s3 = backends.filter((b): b is S3BackendConfig => b.kind === 's3');
  const base = (b: S3BackendConfig) => `${(b.prefix ?? '').replace(/^\/+|\/+$/g, '')}/`.replace(/^\/$/, '');
  const problems: string[] = [];
  for (const [i, a] of s3.entries()) {
    for (const b of s3.slice(i + 1)) {
      if (a.bucket === b.bucket && (base(a).startsWith(base(b)) || base(b).startsWith(base(a)))) {
        problems.push(`${subject}: backends ${a.id} and ${b.id} share bucket "${a.bucket}" with prefixes "${a.prefix ?? ''}" and "${b.prefix ?? ''}", one inside the other; give each its own prefix`);
      }
    }
  }
  return problems;
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
