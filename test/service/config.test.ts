// Settings are validated at start: every problem is reported at once, each naming its variable
// (or the file and the key), what was wrong and what is accepted.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadConfig } from '../../src/config/config.js';
import { StartupError } from '../../src/errors/startup-error.js';
import { REPO_ROOT } from '../support/server.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'filestore-config-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `text` to a new file named `name` in the test's folder; returns its path. */
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** A directory that exists, for backend roots. */
function existingDir(name: string): string {
  const p = path.join(dir, name);
  mkdirSync(p, { recursive: true });
  return p;
}

/** The problems loadConfig reports for `env`: it must refuse it with one StartupError. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof StartupError) return err.problems;
    throw err;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

const TOKEN = 'a-token-of-24-characters';
const OTHER_TOKEN = 'another-token-of-27-chars!!';

test('FILESTORE_WORKERS=off without a shared queue is refused: nothing would ever run the jobs', (t) => {
  t.throws(() => loadConfig({ FILESTORE_WORKERS: 'off' }), { message: /FILESTORE_WORKERS=off needs REDIS_URL/ });
  t.throws(() => loadConfig({ FILESTORE_WORKERS: 'off', REDIS_URL: 'inline' }), { message: /needs REDIS_URL/ });
  t.false(loadConfig({ FILESTORE_WORKERS: 'off', REDIS_URL: 'redis://127.0.0.1:6379' }).jobs.runWorkers);
});

test('REDIS_URL=inline means no Redis: jobs and events stay in the process', (t) => {
  t.is(loadConfig({ REDIS_URL: 'inline' }).redisUrl, null);
  t.is(loadConfig({}).redisUrl, null);
  t.true(loadConfig({}).jobs.runWorkers);
});

// --- the environment ---------------------------------------------------------------------------

test('an unknown FILESTORE_ setting is refused, with the setting it probably meant', (t) => {
  t.deepEqual(problems({ FILESTORE_GRPC_ADRR: '127.0.0.1:1', FILESTORE_ROLLUP: 'off', FILESTORE_COLOUR: 'blue' }), [
    'FILESTORE_COLOUR: unknown setting; the configuration table of the README lists the FILESTORE_ settings',
    'FILESTORE_GRPC_ADRR: unknown setting; did you mean FILESTORE_GRPC_ADDR?',
    'FILESTORE_ROLLUP: unknown setting; did you mean FILESTORE_ROLLUPS?',
  ]);
});

test('the test and bench hooks, and variables without the FILESTORE_ prefix, are not settings to refuse', (t) => {
  const config = loadConfig({
    FILESTORE_CRASH_AT: 'write:before-publish',
    FILESTORE_TEST_DB: 'pg',
    FILESTORE_TEST_TX_DELAY_MS: '5',
    FILESTORE_BENCH_SECONDS: '1',
    PATH: '/usr/bin',
    DATABSE_URL: 'whatever',
  });
  t.is(config.databaseUrl, null);
});

test('every FILESTORE_ name the repository uses is a setting or a hook', (t) => {
  // This file and the e2e test of the refusals hold misspelt names on purpose.
  const skip = new Set(['test/service/config.test.ts', 'test/e2e/startup-errors.test.ts']);
  const names = new Set<string>();
  const walk = (rel: string) => {
    const abs = path.join(REPO_ROOT, rel);
    if (statSync(abs).isDirectory()) for (const entry of readdirSync(abs)) walk(path.posix.join(rel, entry));
    else if (/\.(ts|md|sh)$|^\.ci\/run$/.test(rel) && !skip.has(rel)) for (const m of readFileSync(abs, 'utf8').matchAll(/FILESTORE_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])/g)) names.add(m[0]);
  };
  for (const top of ['src', 'test', 'bench', '.ci', 'README.md', 'docs']) walk(top);
  t.true(names.size > 30);
  const env = Object.fromEntries([...names].map((name) => [name, 'x']));
  t.deepEqual(
    problems(env).filter((p) => p.includes('unknown setting')),
    [],
  );
});

test('a bad value names the variable, the value and what is accepted', (t) => {
  t.deepEqual(
    problems({
      FILESTORE_DB_POOL_SIZE: 'many',
      FILESTORE_READ_CHUNK_BYTES: '1024',
      FILESTORE_MAX_UPLOAD_BYTES: '-1',
      FILESTORE_EVENTS_RETENTION_HOURS: '0',
      FILESTORE_LOG_LEVEL: 'verbose',
      FILESTORE_WORKERS: 'yes',
      FILESTORE_INSTANCE_ID: 'has space',
      FILESTORE_SHUTDOWN_GRACE_MS: '9999999999',
    }),
    [
      'FILESTORE_DB_POOL_SIZE: "many" is not an integer from 1 to 500',
      'FILESTORE_INSTANCE_ID: "has space" is not 1 to 64 letters, digits, ".", "_" or "-"',
      'FILESTORE_MAX_UPLOAD_BYTES: "-1" is not an integer of at least 1',
      'FILESTORE_READ_CHUNK_BYTES: "1024" is not an integer from 4096 to 4194304',
      'FILESTORE_LOG_LEVEL: "verbose" is not one of fatal, error, warn, info, debug, trace, silent',
      'FILESTORE_SHUTDOWN_GRACE_MS: "9999999999" is not an integer from 0 to 2147483647',
      'FILESTORE_EVENTS_RETENTION_HOURS: "0" is not a number greater than 0',
      'FILESTORE_WORKERS: "yes" is not one of on, off',
    ],
  );
});

test('an empty value counts as unset', (t) => {
  const config = loadConfig({ DATABASE_URL: '', FILESTORE_DB_POOL_SIZE: '', FILESTORE_TOKENS: '' });
  t.is(config.databaseUrl, null);
  t.is(config.dbPoolSize, 16);
  t.is(config.tokens.size, 0);
});

test('DATABASE_URL must be a postgres:// or postgresql:// URL, and a password is never printed', (t) => {
  t.deepEqual(problems({ DATABASE_URL: 'not-a-url' }), ['DATABASE_URL: "not-a-url" is not a postgres:// or postgresql:// URL']);
  t.deepEqual(problems({ DATABASE_URL: 'mysql://app:hunter2@db.example/files' }), [
    'DATABASE_URL: "mysql://app:***@db.example/files" is not a postgres:// or postgresql:// URL',
  ]);
  t.is(loadConfig({ DATABASE_URL: 'postgresql://app@db.example/files' }).databaseUrl, 'postgresql://app@db.example/files');
  t.is(loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' }).databaseUrl, 'postgres://postgres@127.0.0.1:5432/test');
});

test('REDIS_URL must be a redis:// or rediss:// URL, or inline', (t) => {
  t.deepEqual(problems({ REDIS_URL: '127.0.0.1:6379' }), ['REDIS_URL: "127.0.0.1:6379" is not a redis:// or rediss:// URL, or inline']);
  t.is(loadConfig({ REDIS_URL: 'rediss://cache.example:6380' }).redisUrl, 'rediss://cache.example:6380');
});

test('FILESTORE_GRPC_ADDR must be host:port with a port up to 65535 and IPv6 in brackets', (t) => {
  const accepted = 'host:port with a port from 0 to 65535 (IPv6 in brackets, e.g. [::1]:50051)';
  for (const bad of ['localhost', '127.0.0.1:65536', '::1:50051', ':50051', '127.0.0.1:port', 'unix:/tmp/filestore.sock']) {
    t.deepEqual(problems({ FILESTORE_GRPC_ADDR: bad }), [`FILESTORE_GRPC_ADDR: "${bad}" is not ${accepted}`]);
  }
  for (const good of ['127.0.0.1:0', 'localhost:50051', '[::1]:65535']) t.is(loadConfig({ FILESTORE_GRPC_ADDR: good }).grpcAddr, good);
  t.is(loadConfig({ FILESTORE_GRPC_ADDR: '[::]:50051', FILESTORE_TOKENS: `ops:${TOKEN}` }).grpcAddr, '[::]:50051');
});

test('a non-loopback address without tokens is refused at load, not only when the server starts', (t) => {
  t.deepEqual(problems({ FILESTORE_GRPC_ADDR: '0.0.0.0:50051' }), [
    'FILESTORE_GRPC_ADDR: 0.0.0.0 is not a loopback address, and serving it without authentication is refused; set FILESTORE_TOKENS or FILESTORE_TOKENS_PATH, or bind 127.0.0.1',
  ]);
});

test('FILESTORE_TOKENS: principal:token pairs, tokens of 16+ characters, each token once; no token is printed', (t) => {
  const env = { FILESTORE_TOKENS: `ops:short,nocolon,alice:${TOKEN}, bob:${TOKEN},:${OTHER_TOKEN},carol:` };
  const found = problems(env);
  t.deepEqual(found, [
    'FILESTORE_TOKENS: entry 2 is not principal:token',
    'FILESTORE_TOKENS: entry 5 is not principal:token',
    'FILESTORE_TOKENS: entry 6 is not principal:token',
    'FILESTORE_TOKENS: entry 1 (principal ops): the token has 5 characters; tokens need at least 16',
    'FILESTORE_TOKENS: entry 4 (principal bob): the same token as FILESTORE_TOKENS entry 3 (principal alice); give each entry a token of its own',
  ]);
  for (const secret of ['short', TOKEN, OTHER_TOKEN]) t.false(found.some((p) => p.includes(secret)), secret);
  const tokens = loadConfig({ FILESTORE_TOKENS: `alice:${TOKEN},bob:${OTHER_TOKEN}` }).tokens;
  t.deepEqual([...tokens], [[TOKEN, 'alice'], [OTHER_TOKEN, 'bob']]);
});

// --- the tokens file -------------------------------------------------------------------------------

test('FILESTORE_TOKENS_PATH: short tokens, unknown keys and a token already given inline are refused', (t) => {
  const tokens = file('tokens.yaml', `tokens:\n  - { principal: ops, token: short }\n  - { principal: bob, token: ${TOKEN} }\n  - { principal: eve, token: ${OTHER_TOKEN}, scope: all }\n`);
  const found = problems({ FILESTORE_TOKENS: `alice:${TOKEN}`, FILESTORE_TOKENS_PATH: tokens });
  t.deepEqual(found, [
    `FILESTORE_TOKENS_PATH (${tokens}): tokens[2].scope: unknown key; accepted: principal, token`,
  ]);
  const valid = file('tokens2.yaml', `tokens:\n  - { principal: ops, token: short }\n  - { principal: bob, token: ${TOKEN} }\n`);
  t.deepEqual(problems({ FILESTORE_TOKENS: `alice:${TOKEN}`, FILESTORE_TOKENS_PATH: valid }), [
    `FILESTORE_TOKENS_PATH (${valid}): tokens[0] (principal ops): the token has 5 characters; tokens need at least 16`,
    `FILESTORE_TOKENS_PATH (${valid}): tokens[1] (principal bob): the same token as FILESTORE_TOKENS entry 1 (principal alice); give each entry a token of its own`,
  ]);
  const good = file('tokens.json', JSON.stringify({ tokens: [{ principal: 'bob', token: OTHER_TOKEN }] }));
  t.deepEqual([...loadConfig({ FILESTORE_TOKENS: `alice:${TOKEN}`, FILESTORE_TOKENS_PATH: good }).tokens.values()], ['alice', 'bob']);
});

test('FILESTORE_TOKENS_PATH: a missing or malformed file is one problem, with the line and column but no text of the file', (t) => {
  const missing = path.join(dir, 'no-tokens.yaml');
  t.deepEqual(problems({ FILESTORE_TOKENS_PATH: missing }), [`FILESTORE_TOKENS_PATH (${missing}): the file does not exist`]);
  const yaml = file('bad-tokens.yaml', `tokens:\n  - principal: ops\n   token: ${TOKEN}\n`);
  t.deepEqual(problems({ FILESTORE_TOKENS_PATH: yaml }), [`FILESTORE_TOKENS_PATH (${yaml}): not valid YAML at line 3, column 1`]);
  const json = file('bad-tokens.json', `{"tokens": [{"principal": "ops", "token": "${TOKEN}" "x"}]}`);
  t.deepEqual(problems({ FILESTORE_TOKENS_PATH: json }), [`FILESTORE_TOKENS_PATH (${json}): not valid JSON at line 1, column 70`]);
});

// --- the backends file -------------------------------------------------------------------------------

test('FILESTORE_BACKENDS_PATH: a missing file, a directory, malformed YAML or JSON: one problem with the line and column', (t) => {
  const missing = path.join(dir, 'nope.yaml');
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: missing }), [`FILESTORE_BACKENDS_PATH (${missing}): the file does not exist`]);
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: dir }), [`FILESTORE_BACKENDS_PATH (${dir}): this is a directory; name a JSON or YAML file`]);
  const yaml = file('bad.yaml', 'backends:\n  - id: 1\n   name: one\n');
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: yaml }), [`FILESTORE_BACKENDS_PATH (${yaml}): not valid YAML at line 3, column 1: sequence item without - indicator`]);
  const json = file('bad.json', '{\n  "backends": [\n    { "id": 1, }\n  ]\n}\n');
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: json }), [`FILESTORE_BACKENDS_PATH (${json}): not valid JSON at line 3, column 16: expected double-quoted property name`]);
  // Where V8's message gives no position, the line and column come from a second parse.
  const noValue = file('no-value.json', '{\n  "backends": [\n    { "id": }\n  ]\n}\n');
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: noValue }), [`FILESTORE_BACKENDS_PATH (${noValue}): not valid JSON at line 3, column 13: unexpected token '}'`]);
  const unterminated = file('short.json', '{ "backends": [');
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: unterminated }), [`FILESTORE_BACKENDS_PATH (${unterminated}): not valid JSON at line 1, column 16: unexpected end of JSON input`]);
  const empty = file('empty.yaml', '');
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: empty }), [`FILESTORE_BACKENDS_PATH (${empty}): expected a mapping with backends: [{id, name, kind: local, root} or {id, name, kind: s3, bucket, region}], got nothing`]);
});

test('FILESTORE_BACKENDS_PATH: schema errors name the index and the key; unknown keys are refused', (t) => {
  const root = existingDir('schema-root');
  const backends = file(
    'schema.yaml',
    [
      'backends:',
      '  - { id: 1, name: one, kind: local }',
      '  - { id: 0, name: "", kind: nfs, root: 7, readonly: true }',
      `  - { id: 3, name: three, kind: local, root: ${root}, readOnly: "yes", mount: /x }`,
      `  - { id: 1, name: four, kind: local, root: ${root} }`,
      '  - { id: 5, name: five, kind: s3, root: /x, bucket: Not_A_Bucket, endpoint: "ftp://x" }',
      'default: 1',
    ].join('\n'),
  );
  const at = `FILESTORE_BACKENDS_PATH (${backends})`;
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: backends }), [
    `${at}: default: unknown key; accepted: backends`,
    `${at}: backends[0].root: required`,
    `${at}: backends[1].id: must be greater than 0, got 0`,
    `${at}: backends[1].name: must not be empty`,
    `${at}: backends[1].kind: expected "local" or "s3", got "nfs"`,
    `${at}: backends[1].root: expected a string, got 7`,
    `${at}: backends[1].readonly: unknown key; did you mean readOnly?`,
    `${at}: backends[2].readOnly: expected true or false, got a string`,
    `${at}: backends[2].mount: unknown key; accepted: id, name, kind, root, readOnly, read_only, create`,
    `${at}: backends[4].bucket: must be a bucket name: 3–63 lowercase letters, digits, "." or "-"`,
    `${at}: backends[4].region: required`,
    `${at}: backends[4].endpoint: must be an http:// or https:// URL (the S3 API of MinIO, s3rver, …)`,
    `${at}: backends[4].root: unknown key; accepted: id, name, kind, bucket, prefix, region, endpoint, forcePathStyle, readOnly, read_only`,
  ]);
  const twice = file('twice.yaml', `backends:\n  - { id: 1, name: one, kind: local, root: ${root} }\n  - { id: 1, name: two, kind: local, root: ${root} }\n`);
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: twice }), [`FILESTORE_BACKENDS_PATH (${twice}): backends[1] (id 1): backends[0] has this id already; ids must be unique`]);
  const none = file('none.json', '{"backends": []}');
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: none }), [`FILESTORE_BACKENDS_PATH (${none}): backends: must list at least 1 entry, got 0`]);
});

test('FILESTORE_BACKENDS_PATH: read_only (the proto\'s spelling) is honoured like readOnly; both must agree', (t) => {
  const root = existingDir('ro-root');
  const spelled = (extra: string) => file('ro.yaml', `backends:\n  - { id: 1, name: one, kind: local, root: ${root}${extra} }\n`);
  t.true(loadConfig({ FILESTORE_BACKENDS_PATH: spelled(', read_only: true') }).backends[0].readOnly);
  t.true(loadConfig({ FILESTORE_BACKENDS_PATH: spelled(', readOnly: true') }).backends[0].readOnly);
  t.true(loadConfig({ FILESTORE_BACKENDS_PATH: spelled(', readOnly: true, read_only: true') }).backends[0].readOnly);
  t.false(loadConfig({ FILESTORE_BACKENDS_PATH: spelled('') }).backends[0].readOnly);
  const both = spelled(', readOnly: true, read_only: false');
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: both }), [`FILESTORE_BACKENDS_PATH (${both}): backends[0]: readOnly: true and read_only: false disagree; give one of them`]);
  t.deepEqual(Object.keys(loadConfig({ FILESTORE_BACKENDS_PATH: spelled(', read_only: true') }).backends[0]).sort(), ['create', 'id', 'kind', 'name', 'readOnly', 'root']);
});

test('FILESTORE_BACKENDS_PATH: a root that does not exist is refused unless create: true, and nothing is created', (t) => {
  const missing = path.join(dir, 'unmounted', 'volume');
  const backends = file('missing-root.yaml', `backends:\n  - { id: 7, name: archive, kind: local, root: ${missing} }\n`);
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: backends }), [
    `FILESTORE_BACKENDS_PATH (${backends}): backends[0] (id 7): root ${missing} does not exist; mount it, create it, or set create: true`,
  ]);
  t.false(readdirSync(dir).includes('unmounted'));
  const creating = file('create-root.yaml', `backends:\n  - { id: 7, name: archive, kind: local, root: ${missing}, create: true }\n`);
  t.like(loadConfig({ FILESTORE_BACKENDS_PATH: creating }).backends[0], { id: 7, root: missing, create: true, readOnly: false });
  t.false(readdirSync(dir).includes('unmounted'), 'loading the configuration creates nothing; the server does');
});

test('FILESTORE_BACKENDS_PATH: a root that is a file, or below a file, is refused even with create: true', (t) => {
  const notDir = file('a-file', 'not a directory');
  const below = path.join(notDir, 'root');
  const backends = file('file-root.yaml', `backends:\n  - { id: 1, name: one, kind: local, root: ${notDir} }\n  - { id: 2, name: two, kind: local, root: ${below}, create: true }\n`);
  t.deepEqual(problems({ FILESTORE_BACKENDS_PATH: backends }), [
    `FILESTORE_BACKENDS_PATH (${backends}): backends[0] (id 1): root ${notDir} is not a directory`,
    `FILESTORE_BACKENDS_PATH (${backends}): backends[1] (id 2): root ${below} cannot exist: a parent of it is not a directory`,
  ]);
});

test('without FILESTORE_BACKENDS_PATH, backend 1 lives under the data directory and may be created', (t) => {
  const dataDir = path.join(dir, 'fresh-data-dir');
  t.deepEqual(loadConfig({ FILESTORE_DATA_DIR: dataDir }).backends, [{ id: 1, name: 'default', kind: 'local', root: path.join(dataDir, 'data'), readOnly: false, create: true }]);
});

test('every problem is reported at once: the environment\'s first, then the files\'', (t) => {
  const backends = path.join(dir, 'absent-backends.yaml');
  const tokens = file('few-tokens.yaml', 'tokens:\n  - { principal: ops, token: short }\n');
  t.deepEqual(problems({ FILESTORE_TOKENS_PATH: tokens, FILESTORE_BACKENDS_PATH: backends, FILESTORE_DB_POOL_SIZE: '0', FILESTORE_TOKENS: 'ops:tiny', FILESTORE_GRPC_ADRR: 'x' }), [
    'FILESTORE_GRPC_ADRR: unknown setting; did you mean FILESTORE_GRPC_ADDR?',
    'FILESTORE_DB_POOL_SIZE: "0" is not an integer from 1 to 500',
    'FILESTORE_TOKENS: entry 1 (principal ops): the token has 4 characters; tokens need at least 16',
    `FILESTORE_BACKENDS_PATH (${backends}): the file does not exist`,
    `FILESTORE_TOKENS_PATH (${tokens}): tokens[0] (principal ops): the token has 5 characters; tokens need at least 16`,
  ]);
});

test('FILESTORE_BACKENDS_PATH: an S3 entry loads with its defaults; bad prefixes, regions, endpoints with credentials and overlapping prefixes are refused', (t) => {
  const good = file('s3-good.yaml', 'backends:\n  - { id: 2, name: archive, kind: s3, bucket: filestore-archive, prefix: tenants/a, region: us-east-1 }\n');
  t.like(loadConfig({ FILESTORE_BACKENDS_PATH: good }).backends[0], {
    id: 2,
    kind: 's3',
    bucket: 'filestore-archive',
    prefix: 'tenants/a',
    region: 'us-east-1',
    forcePathStyle: false,
    readOnly: false,
  });
  const bad = file(
    's3-bad.yaml',
    [
      'backends:',
      '  - { id: 1, name: a, kind: s3, bucket: bk1, prefix: "a//b", region: us-east-1 }',
      '  - { id: 2, name: b, kind: s3, bucket: bk1, prefix: "x/.filestore", region: " " }',
      '  - { id: 3, name: c, kind: s3, bucket: 192.168.1.1, region: us-east-1, endpoint: "http://AKIA:secret@127.0.0.1:9000" }',
      '  - { id: 4, name: d, kind: s3, bucket: shared, region: us-east-1 }',
      '  - { id: 5, name: e, kind: s3, bucket: shared, prefix: t, region: us-east-1 }',
      '  - { id: 6, name: f, kind: s3, bucket: other, prefix: t, region: us-east-1 }',
      '  - { id: 7, name: g, kind: s3, bucket: other, prefix: tt, region: us-east-1 }',
    ].join('\n'),
  );
  const at = `FILESTORE_BACKENDS_PATH (${bad})`;
  const got = problems({ FILESTORE_BACKENDS_PATH: bad });
  const prefixRule = 'must be segments separated by "/", without empty, ".", ".." or ".filestore" segments or backslashes';
  t.deepEqual(got, [
    `${at}: backends[0].prefix: ${prefixRule}`,
    `${at}: backends[1].prefix: ${prefixRule}`,
    `${at}: backends[1].region: must be a region name such as us-east-1`,
    `${at}: backends[2].bucket: must be a bucket name: 3–63 lowercase letters, digits, "." or "-"`,
    `${at}: backends[2].endpoint: must not hold credentials: they come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID, profiles, roles)`,
    `${at}: backends 4 and 5 share bucket "shared" with prefixes "" and "t", one inside the other; give each its own prefix`,
  ]);
  t.false(got.join('\n').includes('secret'), 'the credentials are not repeated');
});
