// Operations on paths that are already valid (see validatePath). Pure: no I/O.
// Results built from valid inputs (joinPath, rebase) may exceed the byte
// limits; validate them again before they reach a backend.

import { invalidArgument } from '../errors/domain-error.js';
import { quote } from './escape.js';
import { PATH_INVALID } from './path-rules.js';

/** The parent of `path`: "" for a top-level name. The root "" has no parent. */
export function parentOf(path: string): string {
  if (path === '') throw invalidArgument(PATH_INVALID, 'the backend root has no parent');
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

/** The last segment of `path`: "" for the root. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `name` inside `parent` ("" is the root). `name` must be one non-empty segment. */
export function joinPath(parent: string, name: string): string {
  if (name === '' || name.indexOf('/') !== -1) {
    throw invalidArgument(PATH_INVALID, `name ${quote(name)} must be a single non-empty path segment`);
  }
  return parent === '' ? name : `${parent}/${name}`;
}

/** Every proper ancestor of `path`, from the root "" down to its parent. */
export function ancestorsOf(path: string): string[] {
  if (path === '') return [];
  const out = [''];
  let slash = path.indexOf('/');
  while (slash !== -1) {
    out.push(path.slice(0, slash));
    slash = path.indexOf('/', slash + 1);
  }
  return out;
}

/** True when `path` equals `ancestor` or lies below it; "a/bc" is not below "a/b". */
export function isSameOrDescendant(path: string, ancestor: string): boolean {
  if (ancestor === '') return true;
  if (path.length === ancestor.length) return path === ancestor;
  return (
    path.length > ancestor.length && path.charCodeAt(ancestor.length) === 0x2f && path.startsWith(ancestor)
  );
}

/** True when `path` lies strictly below `ancestor`. */
export function isStrictDescendant(path: string, ancestor: string): boolean {
  return path !== ancestor && isSameOrDescendant(path, ancestor);
}

/**
 * Replace the leading `fromPrefix` of `path` by `toPrefix`
 * (`rebase("a/b/c", "a", "x/y")` = "x/y/b/c"). `path` must be the same as or
 * below `fromPrefix`.
 */
export function rebase(path: string, fromPrefix: string, toPrefix: string): string {
  if (!isSameOrDescendant(path, fromPrefix)) {
    throw invalidArgument(PATH_INVALID, `path ${quote(path)} is not within ${quote(fromPrefix)}`);
  }
  if (path === fromPrefix) return toPrefix;
  // The part below fromPrefix, without a leading "/".
  const rest = fromPrefix === '' ? path : path.slice(fromPrefix.length + 1);
  return toPrefix === '' ? rest : `${toPrefix}/${rest}`;
}

/** Escape `%`, `_` and `\` for a SQL LIKE pattern whose escape character is `\`. */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, '\\$&');
}

/**
 * SQL LIKE pattern (escape character `\`, PostgreSQL's default) matching the
 * paths strictly below `path`. For the root "" it is "%", which also matches
 * "" itself: exclude the root row separately when that matters.
 */
export function likePrefixPattern(path: string): string {
  return path === '' ? '%' : `${escapeLike(path)}/%`;
}
