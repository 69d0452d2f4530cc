// The 1 GiB memory test on an S3 backend (memory-suite.ts), s3rver running in this process; on
// PostgreSQL only (service mode, where the budget is).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { startS3, type S3Fixture } from '../support/s3.js';
import { memorySuite } from './memory-suite.js';

let s3: S3Fixture;
let bucket: string;

memorySuite({
  name: 'an S3 backend',
  async setup(env) {
    s3 = await startS3();
    bucket = await s3.bucket();
    const file = path.join(env.dataDir, 'backends.yaml');
    await writeFile(file, `backends:\n  - { id: 1, name: s3, kind: s3, bucket: ${bucket}, region: us-east-1, endpoint: "${s3.endpoint}", forcePathStyle: true }\n`);
    return { FILESTORE_BACKENDS_PATH: file };
  },
  storedSize: async (_env, key) => Number((await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength),
  teardown: async () => s3?.stop(),
  // The AWS SDK adds about 11 MiB to the server and a part buffer 8 MiB: 147 MiB measured on a quiet
  // machine, 152 MiB under the CI's load. The 150 MiB of issue 11 is not yet met with a margin; this
  // guards against regressions meanwhile (bench/README.md, "S3").
  pgBudgetMiB: 160,
});
