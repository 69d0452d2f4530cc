// Wraps handlers: check the gate, authenticate, run, map errors — so handlers hold only wire ↔ domain translation.
import type { Metadata, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Actor, Services } from '../commands/services.js';
import type { EventService } from '../events/event-service.js';
import type { ServingGate } from './gate.js';
import { toServiceError } from './status.js';

/** svc and events are set once start-up is done; until then the gate refuses every call. */
export interface HandlerContext {
  svc: Services;
  events: EventService;
  auth: Authenticator;
  gate: ServingGate;
  log: Logger;
}

export function unary<Req, Res>(ctx: HandlerContext, fn: (req: Req, actor: Actor) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    let actor: Actor;
    try {
      actor = authenticate(ctx, call.metadata);
    } catch (err) {
      callback(toServiceError(err, ctx.log));
      return;
    }
    fn(call.request, actor).then(
      (res) => callback(null, res),
      (err) => callback(toServiceError(err, ctx.log)),
    );
  };
}

/** The first step of every call, unary or streaming: is the server taking calls, and who is calling. */
export function authenticate(ctx: HandlerContext, metadata: Metadata): Actor {
  ctx.gate.check();
  return ctx.auth.authenticate(metadata);
}
