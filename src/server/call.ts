// Wraps handlers: authenticate, run, map errors — so handlers hold only wire ↔ domain translation.
import type { Metadata, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Actor, Services } from '../commands/services.js';
import type { EventService } from '../events/event-service.js';
import { toServiceError } from './status.js';

export interface HandlerContext {
  svc: Services;
  events: EventService;
  auth: Authenticator;
  log: Logger;
}

export function unary<Req, Res>(ctx: HandlerContext, fn: (req: Req, actor: Actor) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    let actor: Actor;
    try {
      actor = ctx.auth.authenticate(call.metadata);
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

export function authenticate(ctx: HandlerContext, metadata: Metadata): Actor {
  return ctx.auth.authenticate(metadata);
}
