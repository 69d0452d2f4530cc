// Bearer tokens → principals. Without tokens configured every call acts as "anonymous"
// (allowed only on a loopback address: without tokens the server refuses to bind any other).
import { createHash } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { Actor } from '../commands/services.js';
import { unauthenticated } from '../errors/domain-error.js';

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export class Authenticator {
  private readonly principals = new Map<string, string>();

  constructor(tokens: Map<string, string>) {
    // Keyed by digest, so that lookups do not compare secrets byte by byte.
    for (const [token, principal] of tokens) this.principals.set(digest(token), principal);
  }

  get enabled(): boolean {
    return this.principals.size > 0;
  }

  authenticate(metadata: Metadata): Actor {
    if (!this.enabled) return { principal: 'anonymous' };
    const header = metadata.get('authorization')[0];
    if (typeof header !== 'string' || !header) {
      throw unauthenticated('TOKEN_MISSING', 'send "authorization: Bearer <token>" metadata');
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const principal = match ? this.principals.get(digest(match[1])) : undefined;
    if (!principal) throw unauthenticated('TOKEN_INVALID', 'the bearer token is not known to this server');
    return { principal };
  }
}
