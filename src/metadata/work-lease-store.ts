/**
 * @module metadata/work-lease-store
 * Leases on long-running work (task runs), shared by every replica: the process doing a piece
 * of work holds its lease and renews it while it works. A lease past its expiry means its holder
 * is gone (killed, or cut off from the database), so another replica may end the work.
 *
 * Expiry times are the writer's clock: replicas' clocks must agree to well within a lease.
 */
import type { Kysely } from 'kysely';
import type { Database, WorkLeasesTable } from './schema.js';

export interface WorkLease {
  /** The leased resource's id, lower case. */
  resourceId: string;
  /** `<instance name>/<incarnation>` of the holding process. */
  owner: string;
  expiresAt: string;
}

export class WorkLeaseStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Takes the lease on `resourceId` for `owner` until `expiresAt`, unless another owner holds it
   * and it has not expired by `now` (with `replace`, whoever holds it: the work was replaced).
   * Whether `owner` holds it afterwards.
   */
  async claim(
    resourceId: string,
    owner: string,
    expiresAt: Date,
    now: Date,
    replace = false,
  ): Promise<boolean> {
    const values = {
      resource_id: resourceId.toLowerCase(),
      owner,
      expires_at: expiresAt.toISOString(),
    };
    const result = await this.db
      .insertInto('work_leases')
      .values(values)
      .onConflict((oc) =>
        oc
          .column('resource_id')
          .doUpdateSet({ owner, expires_at: values.expires_at })
          .where((eb) =>
            eb.or([
              eb('work_leases.owner', '=', owner),
              eb('work_leases.expires_at', '<', now.toISOString()),
              ...(replace ? [eb.lit(true)] : []),
            ]),
          ),
      )
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /**
   * Extends every lease `owner` holds to `expiresAt`; the resource ids (lower case) it still
   * holds, so the holder learns of any it lost.
   */
  async renew(owner: string, expiresAt: Date): Promise<Set<string>> {
    await this.db
      .updateTable('work_leases')
      .set({ expires_at: expiresAt.toISOString() })
      .where('owner', '=', owner)
      .execute();
    const held = await this.db
      .selectFrom('work_leases')
      .select('resource_id')
      .where('owner', '=', owner)
      .execute();
    return new Set(held.map((row) => row.resource_id));
  }

  async find(resourceId: string): Promise<WorkLease | undefined> {
    const row = await this.db
      .selectFrom('work_leases')
      .selectAll()
      .where('resource_id', '=', resourceId.toLowerCase())
      .executeTakeFirst();
    return row ? toLease(row) : undefined;
  }

  /** Every lease (they are given up when the work ends, so there are as many as work going on). */
  async list(): Promise<WorkLease[]> {
    const rows = await this.db
      .selectFrom('work_leases')
      .selectAll()
      .orderBy('resource_id')
      .execute();
    return rows.map(toLease);
  }

  /** Gives the lease up, if `owner` still holds it. */
  async release(resourceId: string, owner: string): Promise<void> {
    await this.db
      .deleteFrom('work_leases')
      .where('resource_id', '=', resourceId.toLowerCase())
      .where('owner', '=', owner)
      .execute();
  }
}

function toLease(row: WorkLeasesTable): WorkLease {
  return { resourceId: row.resource_id, owner: row.owner, expiresAt: row.expires_at };
}
