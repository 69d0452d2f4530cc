// realpath, with concurrent calls for one path sharing one (a batch of creations in one directory,
// uploads staging into one area): the answer is what a call made at that moment would get.
import { realpath } from 'node:fs/promises';

const inFlight = new Map<string, Promise<string>>();

export function sharedRealpath(path: string): Promise<string> {
  let p = inFlight.get(path);
  if (!p) {
    p = realpath(path).finally(() => inFlight.delete(path));
    inFlight.set(path, p);
  }
  return p;
}
