// s3rver, the S3 API the bench measures against, in a process of its own (its CPU is the storage's,
// not the client's): serves TWIN-style on a loopback port under S3RVER_DIR and prints the port.
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';

const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: process.env.S3RVER_DIR });
const { port } = (await server.run()) as { port: number };
console.log(JSON.stringify({ s3rver: 'serving', port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
