// What an error that stopped a process from starting means to an operator, in one place: the
// settings' problems, the database refusing DATABASE_URL, the port of FILESTORE_GRPC_ADDR taken,
// a domain error. Each is a line naming what to change. null: the error is a bug (print its stack).
import { DEFAULT_GRPC_ADDR } from '../config/env.js';
import { maskPassword } from '../config/mask-url.js';
import { isFilestoreError } from './domain-error.js';
import { isStartupError } from './startup-error.js';

interface ErrorFields {
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
  message?: unknown;
  severity?: unknown;
  reason?: unknown;
  syscall?: unknown;
  path?: unknown;
  port?: unknown;
  hostname?: unknown;
}

/** The error and every error it wraps (cause, AggregateError's errors). */
function chain(err: unknown): ErrorFields[] {
  const out: ErrorFields[] = [];
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 5 || out.includes(e as ErrorFields)) return;
    out.push(e as ErrorFields);
    visit((e as ErrorFields).cause, depth + 1);
    if (Array.isArray((e as ErrorFields).errors)) for (const inner of (e as ErrorFields).errors as unknown[]) visit(inner, depth + 1);
  };
  visit(err, 0);
  return out;
}

function databaseServer(url: string): { host: string; port: number } | null {
  try {
    const u = new URL(url);
    return { host: u.hostname || 'localhost', port: Number(u.port || 5432) };
  } catch {
    return null;
  }
}

/** What to check after a refusal the server words itself (unknown database or role, bad password). */
const REFUSALS: Record<string, string> = {
  '3D000': 'create it (createdb) or name an existing database in DATABASE_URL',
  '28000': 'check the user name in DATABASE_URL and the server\'s pg_hba.conf',
  '28P01': 'check the user name and password in DATABASE_URL',
  '53300': 'the server has no connection left: lower FILESTORE_DB_POOL_SIZE or raise max_connections',
  '57P03': 'the server is starting or shutting down; start again once it accepts connections',
};

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused; check that PostgreSQL runs there and listens on that port',
  ENOTFOUND: 'host not found; check the host name',
  EAI_AGAIN: 'the host name could not be resolved (DNS did not answer); check the host name and DNS',
  ETIMEDOUT: 'no answer (timed out); check the host, the port and the firewall',
  EHOSTUNREACH: 'host unreachable; check the host and the network',
  ENETUNREACH: 'network unreachable; check the host and the network',
  ECONNRESET: 'the connection was closed at once; check that a PostgreSQL server listens there',
};

function describeDatabaseError(errors: ErrorFields[], databaseUrl: string | undefined): string | null {
  if (!databaseUrl) return null;
  const subject = `DATABASE_URL (${maskPassword(databaseUrl)})`;
  // A PostgreSQL server's refusal: node-postgres's DatabaseError carries the SQLSTATE and a severity.
  const refusal = errors.find((e) => typeof e.severity === 'string' && typeof e.code === 'string' && e.code in REFUSALS);
  if (refusal) return `${subject}: ${String(refusal.message)}; ${REFUSALS[refusal.code as string]}`;
  // node-postgres's words when sslmode asks for TLS and the server has none.
  if (errors.some((e) => e.message === 'The server does not support SSL connections')) {
    return `${subject}: the server does not support SSL connections; drop sslmode from DATABASE_URL or enable SSL on the server`;
  }
  // The database layer wraps most failed connections in DATABASE_UNAVAILABLE; an errno it does not
  // know (EHOSTUNREACH) comes raw, and is the database's when it names the URL's port or host.
  const server = databaseServer(databaseUrl);
  const failed = errors.find((e) => typeof e.code === 'string' && e.code in UNREACHABLE);
  const fromDatabase =
    errors.some((e) => e.reason === 'DATABASE_UNAVAILABLE') ||
    (failed && server && ((failed.syscall === 'connect' && failed.port === server.port) || (failed.syscall === 'getaddrinfo' && failed.hostname === server.host)));
  if (!fromDatabase) return null;
  const target = server ? `${server.host}:${server.port}` : 'the server';
  const why = failed ? UNREACHABLE[failed.code as string] : `${String(errors[errors.length - 1].message).toLowerCase()}; check the host, the port and that PostgreSQL listens there`;
  return `${subject}: cannot connect to ${target}: ${why}`;
}

const BIND_FAILURES: Record<string, string> = {
  EADDRINUSE: 'the port is in use by another process; stop it or choose another port (:0 picks a free one)',
  EACCES: 'permission denied: ports below 1024 need privileges; choose a port of 1024 or above',
  EADDRNOTAVAIL: 'the host is not an address of this machine; bind one of its addresses, 127.0.0.1 or 0.0.0.0',
};

/** grpc-js reports a failed bind as "No address added out of total N resolved errors: [listen EADDRINUSE: …]". */
function describeBindError(message: string, grpcAddr: string): string | null {
  const subject = `FILESTORE_GRPC_ADDR (${grpcAddr})`;
  if (message.startsWith('Name resolution failed for target')) return `${subject}: the host name could not be resolved; check it`;
  if (!message.startsWith('No address added out of total')) return null;
  const code = Object.keys(BIND_FAILURES).find((c) => message.includes(c));
  const inner = /errors: \[(.*)\]/s.exec(message)?.[1];
  return `${subject}: cannot serve there: ${code ? BIND_FAILURES[code] : (inner ?? message)}`;
}

const FILE_FAILURES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a parent is not a directory',
};

/** A file system call that failed on a path (the data directory, a backend root). */
function describeFileError(e: ErrorFields): string | null {
  if (typeof e.code !== 'string' || !(e.code in FILE_FAILURES) || typeof e.path !== 'string' || typeof e.syscall !== 'string') return null;
  return `${e.path}: ${FILE_FAILURES[e.code]} (${e.syscall}); check FILESTORE_DATA_DIR and the backends' roots`;
}

/** The lines to print for an error that stopped the start, or null when it is a bug. */
export function describeStartupError(err: unknown, env: NodeJS.ProcessEnv = process.env): string[] | null {
  if (isStartupError(err)) return err.problems;
  const errors = chain(err);
  const database = describeDatabaseError(errors, env.DATABASE_URL || undefined);
  if (database) return [database];
  const bind = describeBindError(String((err as ErrorFields | undefined)?.message ?? ''), env.FILESTORE_GRPC_ADDR || DEFAULT_GRPC_ADDR);
  if (bind) return [bind];
  if (isFilestoreError(err)) return [err.message];
  const file = describeFileError(err as ErrorFields);
  return file ? [file] : null;
}
