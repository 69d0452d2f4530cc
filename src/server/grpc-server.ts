// grpc-js wiring: the three services, health and reflection on one port.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { JournalServiceService } from '../../gen/filestore/v1/journal_service.js';
import type { HandlerContext } from './call.js';
import type { ServingState } from './gate.js';
import { eventsHandlers } from './handlers/events.js';
import { fileStoreHandlers } from './handlers/filestore.js';
import { journalHandlers } from './handlers/journal.js';
import { servedEventsService, servedFileStoreService } from './wire-encoding.js';
import { addReflection } from './reflection.js';

export const SERVICE_NAMES = ['filestore.v1.FileStoreService', 'filestore.v1.JournalService', 'filestore.v1.EventsService'];
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export interface RunningServer {
  port: number;
  /** Health and the gate together: SERVING only in state 'serving'. */
  setState(state: ServingState): void;
  /** Stops taking calls, lets in-flight ones finish (up to graceMs), then closes. */
  drain(graceMs: number): Promise<void>;
}

/**
 * Binds first, with every call refused by the gate (health NOT_SERVING) until setState('serving'):
 * a process that cannot take its port changes nothing, and none is served before it recovered.
 */
export async function startGrpcServer(ctx: HandlerContext, address: string): Promise<RunningServer> {
  const server = new Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES });
  server.addService(servedFileStoreService, fileStoreHandlers(ctx));
  server.addService(JournalServiceService, journalHandlers(ctx));
  server.addService(servedEventsService, eventsHandlers(ctx));

  const health = new HealthImplementation(Object.fromEntries(['', ...SERVICE_NAMES].map((s) => [s, 'NOT_SERVING' as const])));
  health.addToServer(server);
  // Reflection describes every service served here, health and reflection included (grpcurl list shows them).
  addReflection(server, [...SERVICE_NAMES, 'grpc.health.v1.Health']);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  const setState = (state: ServingState) => {
    ctx.gate.state = state;
    for (const s of ['', ...SERVICE_NAMES]) health.setStatus(s, state === 'serving' ? 'SERVING' : 'NOT_SERVING');
  };
  return {
    port,
    setState,
    async drain(graceMs) {
      setState('draining');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
