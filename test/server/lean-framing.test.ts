// ReadFile's lean chunk framing (src/server/lean-framing.ts) says exactly what the generated encoder says.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { ReadFileResponse } from '../../gen/filestore/v1/filestore_service.js';
import { serializeReadFileResponse } from '../../src/server/lean-framing.js';

test('a chunk message is byte for byte the generated encoding, at every varint length boundary', (t) => {
  for (const size of [0, 1, 127, 128, 300, 16_383, 16_384, 65_536, 1_048_576, 2_097_151, 2_097_152]) {
    const chunk = randomBytes(size);
    const lean = serializeReadFileResponse({ node: undefined, chunk });
    // Buffer.equals, not deepEqual: ava's diffing of megabytes takes seconds.
    t.true(lean.equals(Buffer.from(ReadFileResponse.encode({ node: undefined, chunk }).finish())), `${size} bytes`);
    t.true(Buffer.from(ReadFileResponse.decode(lean).chunk!).equals(chunk), `${size} bytes decode back`);
  }
});

test('the node message goes through the generated encoder', (t) => {
  const msg = ReadFileResponse.fromPartial({ node: { path: 'a/b.txt', name: 'b.txt', sizeBytes: 3 } });
  t.deepEqual(serializeReadFileResponse(msg), Buffer.from(ReadFileResponse.encode(msg).finish()));
});
