// Where things live in an S3 bucket (pure: no I/O). A tracked file at `path` is the object
// `<prefix>/<path>` with its exact bytes; a directory is the zero-byte marker `<prefix>/<path>/`
// (keys below a prefix without a marker are an implicit directory). The service's own objects live
// under `<prefix>/.filestore/`: staging objects at `staging/<owner>/<name>` (a staged tree below
// `staging/<owner>/<name>/`), and one object per intent at `intents/<owner>/<id>`.
import { RESERVED_DIR } from '../backend.js';

export class KeyLayout {
  /** '' or a prefix ending in '/'. */
  readonly base: string;

  constructor(prefix: string | undefined) {
    const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.base = trimmed ? `${trimmed}/` : '';
  }

  /** The object of a file at `path` ('' is the root, which has no object). */
  file(path: string): string {
    return `${this.base}${path}`;
  }

  /** The marker of a directory at `path`, and the prefix of everything below it. */
  dir(path: string): string {
    return path === '' ? this.base : `${this.base}${path}/`;
  }

  get stagingRoot(): string {
    return `${this.base}${RESERVED_DIR}/staging/`;
  }

  /** A staged file's object; a staged tree's objects are below `${staged(key)}/`. */
  staged(key: string): string {
    return `${this.stagingRoot}${key}`;
  }

  get intentsRoot(): string {
    return `${this.base}${RESERVED_DIR}/intents/`;
  }

  intent(owner: string, id: number): string {
    return `${this.intentsRoot}${owner}/${id}`;
  }
}

/** `s3://bucket/prefix` for messages and the backends table. */
export function s3Location(bucket: string, layout: KeyLayout): string {
  return `s3://${bucket}/${layout.base.replace(/\/$/, '')}`.replace(/\/$/, '');
}

/** A CopySource header value: the bucket and the key, each segment URL-encoded. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
