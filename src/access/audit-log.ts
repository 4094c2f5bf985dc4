/**
 * @module access/audit-log
 * Where access decisions go: one JSON line each to `<data>/audit/access.jsonl`, and rows in the
 * metadata store for the management API's filtered listing. Writes are batched (every 250 ms or
 * 500 records) so auditing never sits on a request's path; `close` flushes what is pending.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AccessLogStore, AccessRecord } from '../metadata/index.js';

const FLUSH_MS = 250;
const FLUSH_RECORDS = 500;

export interface AuditEntry {
  registry: string;
  result: 'allowed' | 'refused';
  principal?: string;
  reason: string;
  [key: string]: unknown;
}

export class AuditLog {
  private pending: AccessRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly file: WriteStream | undefined;

  constructor(
    private readonly store: AccessLogStore | undefined,
    private readonly logger: Logger,
    directory?: string,
  ) {
    if (directory) {
      mkdirSync(directory, { recursive: true });
      this.file = createWriteStream(join(directory, 'access.jsonl'), { flags: 'a' });
      this.file.on('error', (error) => logger.error({ err: error }, 'audit file write failed'));
    }
  }

  record(entry: AuditEntry): void {
    const record: AccessRecord = { ...entry, id: randomUUID(), time: new Date().toISOString() };
    this.logger.info({ audit: record }, 'access decision');
    if (!this.store && !this.file) return;
    this.pending.push(record);
    if (this.pending.length >= FLUSH_RECORDS) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /**
   * Writes pending records to the file (one write for the batch: a write per decision was a
   * twentieth of the push path's CPU) and to the store (also used by tests to read their own
   * decisions).
   */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0 && this.file) {
      this.file.write(batch.map((record) => `${JSON.stringify(record)}\n`).join(''));
    }
    this.flushing = this.flushing
      .then(() => this.store?.append(batch))
      .catch((error: unknown) => this.logger.error({ err: error }, 'audit store write failed'));
    return this.flushing;
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve) => (this.file ? this.file.end(resolve) : resolve()));
  }
}
