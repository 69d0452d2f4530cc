import type { ServerWritableStream } from '@grpc/grpc-js';
import type { EventsServiceServer, SubscribeRequest, SubscribeResponse } from '../../../gen/filestore/v1/events_service.js';
import { unimplemented } from '../../errors/domain-error.js';
import type { HandlerContext } from '../call.js';
import { toServiceError } from '../status.js';

/** Defined in the contract; the event hub arrives with the events issue. */
export function eventsHandlers(ctx: HandlerContext): EventsServiceServer {
  return {
    subscribe: (call: ServerWritableStream<SubscribeRequest, SubscribeResponse>) => {
      call.emit('error', toServiceError(unimplemented('EVENTS_UNAVAILABLE', 'change events are not served by this release yet'), ctx.log));
    },
  };
}
