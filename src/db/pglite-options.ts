/** An embedded database serves one process: small buffers keep its WebAssembly heap (and RSS) modest. */
export const PGLITE_OPTIONS = {
  postgresqlconf: ['shared_buffers = 16MB', 'wal_buffers = 1MB', 'temp_buffers = 2MB', 'work_mem = 4MB', 'maintenance_work_mem = 16MB'],
};
