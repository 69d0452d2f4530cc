// Creates a PGlite data directory in a child process: initdb grows the WebAssembly heap to
// ~600 MiB, and a heap never shrinks, so the server opens the finished directory instead.
// It runs under its parent's lock on the data directory (data-dir-lock.ts): when the parent dies,
// its stdin closes and this process stops too, so it never writes beside the lock's next holder.
import { PGlite } from '@electric-sql/pglite';
import { PGLITE_OPTIONS } from './pglite-options.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: pglite-init <data dir>');
process.stdin.on('end', () => process.exit(1)).resume();
const db = new PGlite(dataDir, PGLITE_OPTIONS);
await db.query('SELECT 1');
await db.close();
process.exit(0);
