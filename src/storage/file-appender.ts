/**
 * @module storage/file-appender
 * Appends a byte stream to a file: what an upload chunk does with its request body.
 *
 * Written by hand rather than as `pipeline(body, transform, createWriteStream())` because that
 * chain costs the event loop a Transform and a WriteStream per 64 KiB socket read (measured on
 * a W1 push: 1.81 CPU-seconds per GiB on the event loop with it, 1.45-1.6 with this). Here
 * every chunk is shown to `observe` (the running hash) and kept; each MiB goes to the kernel as
 * one writev in the thread pool, with at most two in flight, the body paused while both are
 * busy, so memory stays flat whatever the size. Every `FLUSH_EVERY` bytes an fdatasync starts in
 * the background, so the commit's own fsync finds little left to write.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

const WRITE_BATCH = 1024 * 1024;
const WRITES_IN_FLIGHT = 2;
/** Bytes an upload may hold in the page cache before a background flush starts. */
const FLUSH_EVERY = 32 * 1024 * 1024;

/**
 * Writes everything `data` yields into the file at `path` from byte `start` on (its current
 * end); resolves with the bytes written once they all are (not yet fsynced). On failure, rejects
 * only after every write it started has ended, so the caller may truncate the file at once.
 */
export async function appendToFile(
  path: string,
  start: number,
  data: Readable,
  observe: (chunk: Buffer) => void,
): Promise<number> {
  const handle = await open(path, 'r+');
  const writer = new BatchedWriter(handle, start);
  let received = 0;
  try {
    for await (const chunk of data as AsyncIterable<Buffer>) {
      observe(chunk);
      received += chunk.length;
      await writer.add(chunk);
    }
    await writer.finish();
    return received;
  } catch (error) {
    data.destroy();
    await writer.settle();
    throw error;
  } finally {
    await handle.close();
  }
}

class BatchedWriter {
  private batch: Buffer[] = [];
  private batched = 0;
  private inFlight = 0;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private unflushed = 0;
  private flushing: Promise<void> | undefined;

  /** Where the next batch goes: writes in flight run in any order, so each names its place. */
  private position: number;

  constructor(
    private readonly handle: FileHandle,
    start: number,
  ) {
    this.position = start;
  }

  /** Keeps `chunk`; writes a full batch, waiting while too many writes are in flight. */
  async add(chunk: Buffer): Promise<void> {
    this.batch.push(chunk);
    this.batched += chunk.length;
    if (this.batched < WRITE_BATCH) return;
    this.write();
    while (this.inFlight >= WRITES_IN_FLIGHT) await this.someWriteEnded();
    this.throwIfFailed();
  }

  /** Writes what is left and waits for every write. */
  async finish(): Promise<void> {
    if (this.batched > 0) this.write();
    await this.settle();
    this.throwIfFailed();
  }

  /** Waits for the writes and the flush in flight, whatever their outcome. */
  async settle(): Promise<void> {
    while (this.inFlight > 0) await this.someWriteEnded();
    await this.flushing;
  }

  private write(): void {
    const chunks = this.batch;
    const bytes = this.batched;
    this.batch = [];
    this.batched = 0;
    const position = this.position;
    this.position += bytes;
    this.inFlight += 1;
    this.handle.writev(chunks, position).then(
      ({ bytesWritten }) => {
        // A regular file writes short only when the disk is full.
        if (bytesWritten < bytes) this.failure ??= shortWrite(bytesWritten, bytes);
        this.writeEnded(bytesWritten);
      },
      (error: unknown) => {
        this.failure ??= error;
        this.writeEnded(0);
      },
    );
  }

  private writeEnded(bytes: number): void {
    this.inFlight -= 1;
    this.unflushed += bytes;
    if (this.unflushed >= FLUSH_EVERY && !this.flushing && this.failure === undefined) {
      this.unflushed = 0;
      // Only an optimisation: a failed flush is ignored (the commit's fsync will report it).
      this.flushing = this.handle
        .datasync()
        .catch(() => undefined)
        .finally(() => (this.flushing = undefined));
    }
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private someWriteEnded(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

function shortWrite(written: number, wanted: number): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(
    `ENOSPC: no space left on device (wrote ${written} of ${wanted} bytes)`,
  );
  error.code = 'ENOSPC';
  return error;
}
