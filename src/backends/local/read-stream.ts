// A byte-range read stream whose file is opened asynchronously (after the containment
// check) by `openFile`; the stream itself is returned synchronously, as Backend.read requires.
// Each chunk is a fresh buffer of at most `chunkSize` bytes, so consumers may keep it.
import { Readable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';

export class RangeReadStream extends Readable {
  private fh: FileHandle | undefined;
  private position: number;
  private remaining: number;

  constructor(
    private readonly openFile: () => Promise<FileHandle>,
    private readonly mapError: (err: unknown) => unknown,
    offset: number,
    length: number | undefined,
    private readonly chunkSize: number,
  ) {
    super({ highWaterMark: chunkSize });
    this.position = offset;
    this.remaining = length ?? Number.POSITIVE_INFINITY;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.openFile().then(
      (fh) => {
        this.fh = fh;
        callback();
      },
      (err: unknown) => callback(this.mapError(err) as Error),
    );
  }

  override _read(): void {
    const want = Math.min(this.chunkSize, this.remaining);
    if (want <= 0 || !this.fh) {
      this.push(null);
      return;
    }
    const buf = Buffer.allocUnsafe(want);
    this.fh.read(buf, 0, want, this.position).then(
      ({ bytesRead }) => {
        if (bytesRead === 0) {
          this.push(null);
          return;
        }
        this.position += bytesRead;
        this.remaining -= bytesRead;
        this.push(bytesRead === want ? buf : buf.subarray(0, bytesRead));
      },
      (err: unknown) => this.destroy(this.mapError(err) as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    if (!fh) {
      callback(error);
      return;
    }
    // FileHandle.close waits for a read still in flight.
    fh.close().then(
      () => callback(error),
      (closeErr: unknown) => callback(error ?? (closeErr as Error)),
    );
  }
}
