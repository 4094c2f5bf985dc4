/**
 * @module metadata/run-log-store
 * Task run logs: appended in chunks while a run runs (so a reader on any replica can follow
 * it), kept after it ends. A run's log is its chunks in sequence order.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export class RunLogStore {
  constructor(private readonly db: Kysely<Database>) {}

  async append(runId: string, sequence: number, content: string): Promise<void> {
    await this.db
      .insertInto('run_logs')
      .values({ run_id: runId.toLowerCase(), sequence, content })
      .execute();
  }

  /** The whole log so far. */
  async read(runId: string): Promise<string> {
    const rows = await this.db
      .selectFrom('run_logs')
      .select('content')
      .where('run_id', '=', runId.toLowerCase())
      .orderBy('sequence')
      .execute();
    return rows.map((row) => row.content).join('');
  }

  async remove(runId: string): Promise<void> {
    await this.db.deleteFrom('run_logs').where('run_id', '=', runId.toLowerCase()).execute();
  }
}
