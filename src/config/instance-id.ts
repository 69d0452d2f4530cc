// A process's instance id names its lease, its in-flight journal entries and its staging area.
// Unless FILESTORE_INSTANCE_ID fixes it, every start makes a new one: two live processes never share it.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

export const INSTANCE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function newInstanceId(port: number): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40);
  return `${host}-${port}-${randomBytes(4).toString('hex')}`;
}
