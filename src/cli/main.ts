// The `filestore` command for operators.
import { Command } from 'commander';
import { openDatabase } from '../app.js';
import { loadConfig } from '../config/config.js';
import { exitOnStartupFailure } from '../errors/exit-on-startup-failure.js';

const program = new Command()
  .name('filestore')
  .description('Filestore: files and directories with canonical metadata in PostgreSQL, over gRPC');

program
  .command('serve')
  .description('serve the gRPC API (same as npm start); settings come from the environment (see README)')
  .action(async () => {
    await import('../main.js');
  });

program
  .command('worker')
  .description('run only the workers (rollups), sharing DATABASE_URL and REDIS_URL with the API servers (same as npm run worker)')
  .action(async () => {
    await import('../worker-main.js');
  });

program
  .command('rollups:recompute')
  .argument('[path]', 'the subtree to recompute ("" is the whole backend)', '')
  .option('--backend <id>', 'backend id', (v) => Number(v), 1)
  .option('--offline', 'embedded database only: no server has it open', false)
  .description('recompute the rollups of a subtree from its nodes: queued for the workers with REDIS_URL, at once without')
  .action(async (path: string, opts: { backend: number; offline: boolean }) => {
    const { rollupsRecompute } = await import('./rollups-recompute.js');
    try {
      console.log(await rollupsRecompute(loadConfig(), { backend: opts.backend, path, offline: opts.offline }));
    } catch (err) {
      exitOnStartupFailure(err);
    }
  });

program
  .command('migrate')
  .description('apply database migrations (DATABASE_URL, or the embedded PGlite under FILESTORE_DATA_DIR) and exit')
  .action(async () => {
    try {
      const db = await openDatabase(loadConfig(), { role: 'migrate' });
      await db.close();
      console.log(`migrations applied (${db.kind})`);
    } catch (err) {
      exitOnStartupFailure(err);
    }
  });

await program.parseAsync(process.argv);
