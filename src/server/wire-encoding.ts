// Where the generated serializers cost more than the work: ReadFile's chunk messages are framed
// directly (the field's tag, the length as a varint, the bytes, copied once; the generated serializer
// copies each chunk three times, into its writer, out of it, and Buffer.from; grpc-js copies once more
// to frame it), and an event is encoded once for all the subscribers it goes to.
import { EventsServiceService, SubscribeResponse } from '../../gen/filestore/v1/events_service.js';
import { FileStoreServiceService, ReadFileResponse } from '../../gen/filestore/v1/filestore_service.js';
import type { EventRecord } from '../events/types.js';
import { eventToWire } from './mappers.js';

const CHUNK_TAG = (2 << 3) | 2; // field 2 (chunk), length-delimited

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

export function serializeReadFileResponse(value: ReadFileResponse): Buffer {
  const chunk = value.chunk;
  if (chunk === undefined || value.node !== undefined) return Buffer.from(ReadFileResponse.encode(value).finish());
  const out = Buffer.allocUnsafe(1 + varintLength(chunk.length) + chunk.length);
  out[0] = CHUNK_TAG;
  let pos = 1;
  for (let n = chunk.length; ; n = Math.floor(n / 0x80)) {
    if (n < 0x80) {
      out[pos++] = n;
      break;
    }
    out[pos++] = (n & 0x7f) | 0x80;
  }
  out.set(chunk, pos);
  return out;
}

/** FileStoreService as served: the generated definition, with ReadFile's lean framing. */
export const servedFileStoreService = {
  ...FileStoreServiceService,
  readFile: { ...FileStoreServiceService.readFile, responseSerialize: serializeReadFileResponse },
};

/** A SubscribeResponse already encoded; written to a stream as it is. */
class Encoded {
  constructor(readonly bytes: Buffer) {}
}

const encodedEvents = new WeakMap<EventRecord, Encoded>();

/**
 * The message for `event`, encoded at its first subscriber and reused for the others (the hub offers
 * one record to all). Typed as the message so that a stream takes it; only `servedEventsService`'s
 * serializer can write it.
 */
export function eventMessage(event: EventRecord): SubscribeResponse {
  let encoded = encodedEvents.get(event);
  if (!encoded) {
    encoded = new Encoded(Buffer.from(SubscribeResponse.encode(SubscribeResponse.fromPartial({ event: eventToWire(event) })).finish()));
    encodedEvents.set(event, encoded);
  }
  return encoded as unknown as SubscribeResponse;
}

export function serializeSubscribeResponse(value: SubscribeResponse | Encoded): Buffer {
  return value instanceof Encoded ? value.bytes : Buffer.from(SubscribeResponse.encode(value).finish());
}

/** EventsService as served: the generated definition, with events encoded once. */
export const servedEventsService = {
  ...EventsServiceService,
  subscribe: { ...EventsServiceService.subscribe, responseSerialize: serializeSubscribeResponse },
};
