// The kinds of value an environment setting takes. Each refuses a bad value with one issue whose
// message says what is accepted ("an integer from 1 to 500"); env.ts puts the name and the value
// in front of it.
import { z } from 'zod';
import { GRPC_ADDRESS_ACCEPTED, parseGrpcAddress } from './grpc-address.js';

/** setTimeout's largest delay: a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function parsed<T>(accepted: string, parse: (raw: string) => T | undefined) {
  return z.string().transform((raw, ctx) => {
    const value = parse(raw);
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: accepted });
      return z.NEVER;
    }
    return value;
  });
}

const asNumber = (raw: string): number | undefined => (raw.trim() === '' ? undefined : Number(raw));

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  const accepted = max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`;
  return parsed(accepted, (raw) => {
    const n = asNumber(raw);
    return n !== undefined && Number.isInteger(n) && n >= min && n <= max ? n : undefined;
  });
}

export function positiveNumber() {
  return parsed('a number greater than 0', (raw) => {
    const n = asNumber(raw);
    return n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
  });
}

export function oneOf<const T extends readonly string[]>(values: T) {
  return parsed(`one of ${values.join(', ')}`, (raw) => values.find((v): v is T[number] => v === raw));
}

export function matching(pattern: RegExp, accepted: string) {
  return parsed(accepted, (raw) => (pattern.test(raw) ? raw : undefined));
}

/** `words`: values accepted besides the URLs. */
export function url(protocols: readonly string[], accepted: string, words: readonly string[] = []) {
  return parsed(accepted, (raw) => {
    if (words.includes(raw)) return raw;
    try {
      return protocols.includes(new URL(raw).protocol) ? raw : undefined;
    } catch {
      return undefined;
    }
  });
}

export function grpcAddress() {
  return parsed(GRPC_ADDRESS_ACCEPTED, (raw) => (parseGrpcAddress(raw) ? raw : undefined));
}

export const text = () => z.string();
