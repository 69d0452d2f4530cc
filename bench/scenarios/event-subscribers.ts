// The events scenario's subscribers, in a process of their own so that decoding their streams does not
// compete with the load generator's event loop (on 2 cores it still competes with the server for CPU:
// the bench accounts its CPU as client). Started by bench/scenarios/events.ts with an IPC channel:
//   node --import tsx bench/scenarios/event-subscribers.ts   (env SUBS_ADDR, SUBS_COUNT)
// It opens SUBS_COUNT subscriptions to EventsService.Subscribe from now, each on its own connection, with
// every event type (so the server sends all of them to each), and reads them with a lean decoder that
// only picks out the type and the journal id. While recording, it notes when each
// filestore.command.completed arrived, on process.hrtime's clock (CLOCK_MONOTONIC: the same clock as the
// parent's, so the two processes' times compare directly).
//
// Messages, parent → child:  {op: 'record', on}            start/stop noting arrival times (and forget them on start)
//                            {op: 'seen', id, journalId}   → {id, all}: did every subscriber receive that command's completion?
//                            {op: 'collect', id, from, to} → {id, arrivals: [journalId, ms][] per subscriber} for journal ids in [from, to]
//                            {op: 'stop'}                  cancel the subscriptions and exit
// child → parent:            {op: 'open'} once the subscriptions are started; {op: 'failed', message} if one fails.
import { credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { EventsServiceService, SubscribeRequest } from '../../gen/filestore/v1/events_service.js';

const ADDRESS = process.env.SUBS_ADDR ?? '';
const COUNT = Number(process.env.SUBS_COUNT ?? 10);
const COMPLETED = 'filestore.command.completed';

interface Scanned {
  type: string;
  journalId: number;
}

/** SubscribeResponse{event = 1: Event{type = 2, journal_id = 4, …}}: only those two fields are decoded. */
function scan(buf: Buffer): Scanned {
  const out: Scanned = { type: '', journalId: 0 };
  const r = new BinaryReader(buf);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no !== 1 || wt !== WireType.LengthDelimited) {
      r.skip(wt);
      continue;
    }
    const end = r.uint32() + r.pos;
    while (r.pos < end) {
      const [f, w] = r.tag();
      if (f === 2 && w === WireType.LengthDelimited) out.type = r.string();
      else if (f === 4 && w === WireType.Varint) out.journalId = Number(r.int64());
      else r.skip(w);
    }
  }
  return out;
}

const LeanEventsClient = makeGenericClientConstructor(
  { subscribe: { ...EventsServiceService.subscribe, responseDeserialize: scan } },
  'filestore.v1.EventsService',
);

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const send = (msg: object) => process.send!(msg);

let recording = false;
const arrivals: Map<number, number>[] = [];
const received: number[] = [];
const clients: InstanceType<typeof LeanEventsClient>[] = [];
const streams: { cancel(): void }[] = [];
let stopping = false;

for (let i = 0; i < COUNT; i++) {
  // A local subchannel pool: each subscriber gets its own HTTP/2 connection, as separate clients would.
  const client = new LeanEventsClient(ADDRESS, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const seen = new Map<number, number>();
  arrivals.push(seen);
  received.push(0);
  const req = SubscribeRequest.fromPartial({ clientName: `bench-subscriber-${i}` });
  const stream = (client as any).subscribe(req) as NodeJS.ReadableStream & { cancel(): void };
  stream.on('data', (e: Scanned) => {
    received[i]++;
    if (recording && e.type === COMPLETED) seen.set(e.journalId, nowMs());
  });
  stream.on('error', (err: ServiceError) => {
    if (!stopping) send({ op: 'failed', message: `subscriber ${i}: ${err.message}` });
  });
  clients.push(client);
  streams.push(stream);
}
send({ op: 'open' });

process.on('message', (msg: any) => {
  switch (msg.op) {
    case 'record':
      recording = msg.on;
      if (msg.on) for (const m of arrivals) m.clear();
      break;
    case 'seen':
      send({ id: msg.id, all: arrivals.every((m) => m.has(msg.journalId)), received });
      break;
    case 'collect':
      send({ id: msg.id, arrivals: arrivals.map((m) => [...m].filter(([j]) => j >= msg.from && j <= msg.to)), received });
      break;
    case 'stop':
      stopping = true;
      for (const s of streams) s.cancel();
      for (const c of clients) c.close();
      process.disconnect();
      setTimeout(() => process.exit(0), 100).unref();
      break;
  }
});
process.on('disconnect', () => {
  stopping = true;
  process.exit(0);
});
