// What the lock file says its holder is, from the command lines that open the embedded database.
import test from 'ava';
import { purposeOfThisProcess } from '../../src/db/lock-purpose.js';

const node = '/usr/bin/node';

test('the server, by npm start or filestore serve, with its configured gRPC address', (t) => {
  t.deepEqual(purposeOfThisProcess([node, '/srv/filestore/dist/src/main.js'], { FILESTORE_GRPC_ADDR: '0.0.0.0:7000' }), { role: 'server', address: '0.0.0.0:7000' });
  t.deepEqual(purposeOfThisProcess([node, '/srv/filestore/bin/filestore.mjs', 'serve'], {}), { role: 'server', address: '127.0.0.1:50051 (the default)' });
});

test('the CLI verbs by name', (t) => {
  t.deepEqual(purposeOfThisProcess([node, '/srv/filestore/bin/filestore.mjs', 'migrate'], {}), { role: 'migrate' });
  t.deepEqual(purposeOfThisProcess([node, '/usr/local/bin/filestore', 'rollups:recompute', '--offline', 'tree'], {}), { role: 'rollups:recompute' });
  t.deepEqual(purposeOfThisProcess([node, '/srv/filestore/dist/src/cli/main.js', 'rollups:recompute', '--backend', '2'], {}), { role: 'rollups:recompute' });
});

test('anything else by its script', (t) => {
  t.deepEqual(purposeOfThisProcess([node, '/srv/tools/export.mjs'], {}), { role: 'export' });
  t.deepEqual(purposeOfThisProcess([node], {}), { role: 'node' });
});
