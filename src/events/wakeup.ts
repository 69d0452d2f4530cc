// Wake-ups tell event hubs that new events committed. They only shorten the wait: hubs also poll,
// so a lost wake-up delays delivery by at most one poll interval and loses nothing.

export interface Wakeup {
  /** Tells every instance that events up to `cursor` committed. Never blocks, never throws. */
  publish(cursor: bigint): void;
  /** `cursor` null: the channel reconnected and wake-ups may have been missed. */
  onWake(listener: (cursor: bigint | null) => void): void;
  close(): Promise<void>;
}

/** The embedded mode: one process, whose own commits wake its hub directly. */
export class InProcessWakeup implements Wakeup {
  publish(): void {}
  onWake(): void {}
  async close(): Promise<void> {}
}
