// The hand-made encodings of src/server/wire-encoding.ts say exactly what the generated encoders say.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { ReadFileResponse } from '../../gen/filestore/v1/filestore_service.js';
import { SubscribeResponse } from '../../gen/filestore/v1/events_service.js';
import { eventRecord } from '../support/event-record.js';
import { eventToWire } from '../../src/server/mappers.js';
import { eventMessage, serializeReadFileResponse, serializeSubscribeResponse } from '../../src/server/wire-encoding.js';

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

test('an event is encoded once, and its bytes are those of the generated encoder', (t) => {
  const event = eventRecord({ cursor: 123n << 20n, occurredAt: new Date('2026-12-04T10:00:00Z'), journalId: 7, principal: 'carol' });
  const first = eventMessage(event);
  t.is(eventMessage(event), first, 'the second subscriber gets the same encoding');
  const expected = Buffer.from(SubscribeResponse.encode(SubscribeResponse.fromPartial({ event: eventToWire(event) })).finish());
  t.true(serializeSubscribeResponse(first).equals(expected));
  const heartbeat = SubscribeResponse.fromPartial({ event: { cursor: '5', type: 'filestore.heartbeat' } });
  t.true(serializeSubscribeResponse(heartbeat).equals(Buffer.from(SubscribeResponse.encode(heartbeat).finish())));
});
