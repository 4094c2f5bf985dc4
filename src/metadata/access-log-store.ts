/**
 * @module metadata/access-log-store
 * The audit trail of access decisions: one row per decision, queryable by registry, result,
 * principal and time range. Rows are written in batches (see access/audit-log.ts).
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface AccessRecord {
  id: string;
  time: string;
  registry: string;
  result: 'allowed' | 'refused';
  principal?: string;
  [key: string]: unknown;
}

export interface AccessQuery {
  registry: string;
  result?: 'allowed' | 'refused';
  principal?: string;
  from?: string;
  to?: string;
  limit?: number;
}

export class AccessLogStore {
  constructor(private readonly db: Kysely<Database>) {}

  async append(records: AccessRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < records.length; i += 200) {
        await trx
          .insertInto('access_log')
          .values(
            records.slice(i, i + 200).map((record) => ({
              id: record.id,
              time: record.time,
              registry: record.registry,
              result: record.result,
              principal: record.principal ?? null,
              record: JSON.stringify(record),
            })),
          )
          .execute();
      }
    });
  }

  /** Drops records older than `before` (retention); returns how many went. */
  async prune(before: string): Promise<number> {
    const result = await this.db
      .deleteFrom('access_log')
      .where('time', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Newest first. */
  async query(query: AccessQuery): Promise<AccessRecord[]> {
    let select = this.db
      .selectFrom('access_log')
      .select('record')
      .where('registry', '=', query.registry)
      .orderBy('time', 'desc')
      .orderBy('id', 'desc')
      .limit(Math.min(query.limit ?? 100, 1000));
    if (query.result) select = select.where('result', '=', query.result);
    if (query.principal) select = select.where('principal', '=', query.principal);
    if (query.from) select = select.where('time', '>=', query.from);
    if (query.to) select = select.where('time', '<=', query.to);
    return (await select.execute()).map((row) => JSON.parse(row.record) as AccessRecord);
  }
}
