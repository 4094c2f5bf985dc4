/**
 * @module services/tasks/run-log
 * A run's log as it is written: text is buffered and appended to the run log store in chunks
 * (every quarter second, or sooner when a chunk grows large), so readers can follow a run
 * while it runs and the whole log stays after it ends.
 */
import type { RunLogStore } from '../../metadata/index.js';

const FLUSH_MS = 250;
const FLUSH_BYTES = 32 * 1024;

export class RunLog {
  private buffer = '';
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: RunLogStore,
    private readonly runId: string,
  ) {}

  write(text: string): void {
    this.buffer += text;
    if (this.buffer.length >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  line(text: string): void {
    this.write(`${text}\n`);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.buffer) return;
    const content = this.buffer;
    const sequence = this.sequence++;
    this.buffer = '';
    this.writing = this.writing.then(() => this.store.append(this.runId, sequence, content));
  }

  /** Writes what is left; the log is complete once this resolves. */
  async close(): Promise<void> {
    this.flush();
    await this.writing;
  }
}
