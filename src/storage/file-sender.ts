/**
 * @module storage/file-sender
 * Sends a byte range of an open file to a writable (an HTTP response) through reused buffers.
 *
 * A file read stream allocates a fresh buffer for every chunk: at a gigabyte a second that is
 * gigabytes of short-lived memory for the garbage collector, and the server's resident memory
 * peaks with it. Here three buffers take turns: chunks are read while earlier ones are queued on
 * the socket, and a buffer is filled again only after the socket has taken its bytes (the
 * write's callback). Hand-written because Node's streams have no such mode; it is the loop Go's
 * `io.Copy` runs, with a few writes queued. Spare buffers are kept for the next sender, a few at
 * most.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

const CHUNK = 1024 * 1024;
/** Buffers per sender, each either being filled or queued on the socket. */
const IN_FLIGHT = 3;
const MAX_SPARE = 8;
const spare: Buffer[] = [];

function takeBuffer(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

function giveBack(buffer: Buffer): void {
  if (spare.length < MAX_SPARE) spare.push(buffer);
}

export class FileSender {
  private closed = false;

  /** `end` is inclusive, as in HTTP ranges. */
  constructor(
    private readonly handle: FileHandle,
    private readonly start: number,
    private readonly end: number,
  ) {}

  /**
   * Writes the range to `destination` (which stays open). Rejects when the destination fails or
   * closes first, or when the file is shorter than the range.
   */
  async sendTo(destination: Writable): Promise<void> {
    // Each buffer's write must be done before the buffer is filled again; up to IN_FLIGHT writes
    // stay queued so the socket never waits for the next read.
    const buffers: Buffer[] = [];
    const writes: Array<Promise<void> | undefined> = [];
    let position = this.start;
    let turn = 0;
    try {
      while (position <= this.end) {
        const slot = turn % IN_FLIGHT;
        turn += 1;
        await writes[slot];
        const buffer = (buffers[slot] ??= takeBuffer());
        const length = Math.min(CHUNK, this.end - position + 1);
        const { bytesRead } = await this.handle.read(buffer, 0, length, position);
        if (bytesRead === 0) throw new Error('the blob file is shorter than its recorded size');
        position += bytesRead;
        writes[slot] = writeChunk(destination, buffer.subarray(0, bytesRead));
      }
      await Promise.all(writes);
    } catch (error) {
      // A write may still hold a buffer (a destroyed socket cancels it later): do not reuse them.
      await Promise.allSettled(writes);
      throw error;
    }
    for (const buffer of buffers) giveBack(buffer);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

function writeChunk(destination: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = () => reject(new Error('the client closed the connection'));
    destination.once('close', closed);
    destination.write(chunk, (error) => {
      destination.off('close', closed);
      if (error) reject(error);
      else resolve();
    });
  });
}
