// EventsService.Subscribe: validate, then hand the stream to the event service, with backpressure.
import type { ServerWritableStream } from '@grpc/grpc-js';
import { SubscribeResponse, type EventsServiceServer, type SubscribeRequest } from '../../../gen/filestore/v1/events_service.js';
import { unavailable } from '../../errors/domain-error.js';
import type { EventOutput } from '../../events/subscription.js';
import { authenticate, type HandlerContext } from '../call.js';
import { eventToWire } from '../mappers.js';
import { toServiceError } from '../status.js';
import { eventMessage } from '../wire-encoding.js';

type Call = ServerWritableStream<SubscribeRequest, SubscribeResponse>;

function streamOutput(ctx: HandlerContext, call: Call): EventOutput {
  let closed = false;
  let onClosed: () => void = () => {};
  let onDrain: (() => void) | null = null;
  const closing = new Promise<void>((resolve) => (onClosed = resolve));
  const close = () => {
    if (closed) return;
    closed = true;
    onDrain?.();
    onClosed();
  };
  for (const event of ['cancelled', 'close', 'error', 'finish']) call.on(event, close);
  call.on('drain', () => {
    const resolve = onDrain;
    onDrain = null;
    resolve?.();
  });
  return {
    get closed() {
      return closed || call.cancelled;
    },
    closing,
    send: (event) => {
      if (closed) return true;
      // A heartbeat is this stream's own; an event is encoded once for every subscriber it reaches.
      return call.write('backendId' in event ? eventMessage(event) : SubscribeResponse.fromPartial({ event: eventToWire(event) }));
    },
    drained: () => (closed ? Promise.resolve() : new Promise<void>((resolve) => (onDrain = resolve))),
    end() {
      if (closed) return;
      const err = unavailable('SERVER_SHUTTING_DOWN', 'this server is shutting down; subscribe again (any instance) with after_cursor set to the last cursor you received');
      call.emit('error', toServiceError(err, ctx.log));
      close();
    },
  };
}

async function subscribe(ctx: HandlerContext, call: Call): Promise<void> {
  let prepared;
  try {
    authenticate(ctx, call.metadata);
    prepared = await ctx.events.prepare(call.request);
  } catch (err) {
    call.emit('error', toServiceError(err, ctx.log));
    return;
  }
  const client = call.request.clientName || call.getPeer();
  ctx.log.debug({ client, start: prepared.start.toString() }, 'subscriber attached');
  try {
    await ctx.events.run(streamOutput(ctx, call), prepared.filter, prepared.start);
  } catch (err) {
    if (!call.cancelled) call.emit('error', toServiceError(err, ctx.log));
  }
  ctx.log.debug({ client }, 'subscriber left');
}

export function eventsHandlers(ctx: HandlerContext): EventsServiceServer {
  return { subscribe: (call: Call) => void subscribe(ctx, call) };
}
