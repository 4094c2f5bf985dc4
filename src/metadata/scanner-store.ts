/**
 * @module metadata/scanner-store
 * What the vulnerability scanner keeps: the imported advisory database (one snapshot, replaced
 * whole in one transaction, so a scan never sees half of an import) and the latest scan result
 * of each manifest digest. Records are stored as JSON; their meaning belongs to the scanner.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface VulnerabilityDatabaseInfo {
  version: string;
  contentHash: string;
  importedAt: string;
  advisoryCount: number;
  source: string;
}

export interface StoredAdvisory {
  id: string;
  modified: string;
  /** The OSV record as JSON. */
  record: string;
  /** The (ecosystem, name) pairs it is about, as the scanner looks them up. */
  packages: Array<{ ecosystem: string; name: string }>;
}

export interface StoredScanResult {
  registryId: string;
  digest: string;
  repository: string;
  status: string;
  scannedAt: string;
  databaseVersion?: string;
  /** The whole result as JSON. */
  result: string;
}

const CURRENT = 'current';
const CHUNK = 200;

export class ScannerStore {
  constructor(private readonly db: Kysely<Database>) {}

  async databaseInfo(): Promise<VulnerabilityDatabaseInfo | undefined> {
    const row = await this.db
      .selectFrom('vulnerability_database')
      .selectAll()
      .where('id', '=', CURRENT)
      .executeTakeFirst();
    return row
      ? {
          version: row.version,
          contentHash: row.content_hash,
          importedAt: row.imported_at,
          advisoryCount: Number(row.advisory_count),
          source: row.source,
        }
      : undefined;
  }

  /** Replaces the whole database with `advisories`, atomically. */
  async replaceDatabase(
    info: VulnerabilityDatabaseInfo,
    advisories: StoredAdvisory[],
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('vulnerability_packages').execute();
      await trx.deleteFrom('vulnerability_advisories').execute();
      await trx.deleteFrom('vulnerability_database').execute();
      for (let i = 0; i < advisories.length; i += CHUNK) {
        const chunk = advisories.slice(i, i + CHUNK);
        await trx
          .insertInto('vulnerability_advisories')
          .values(chunk.map((a) => ({ id: a.id, modified: a.modified, record: a.record })))
          .execute();
        const packages = dedupe(
          chunk.flatMap((a) => a.packages.map((p) => ({ ...p, advisory_id: a.id }))),
        );
        for (let j = 0; j < packages.length; j += CHUNK) {
          await trx
            .insertInto('vulnerability_packages')
            .values(packages.slice(j, j + CHUNK))
            .execute();
        }
      }
      await trx
        .insertInto('vulnerability_database')
        .values({
          id: CURRENT,
          version: info.version,
          content_hash: info.contentHash,
          imported_at: info.importedAt,
          advisory_count: info.advisoryCount,
          source: info.source,
        })
        .execute();
    });
  }

  /** The records of advisories about any of `names` in `ecosystem`. */
  async advisoriesAbout(ecosystem: string, names: string[]): Promise<string[]> {
    if (names.length === 0) return [];
    const rows = await this.db
      .selectFrom('vulnerability_packages')
      .innerJoin(
        'vulnerability_advisories',
        'vulnerability_advisories.id',
        'vulnerability_packages.advisory_id',
      )
      .select(['vulnerability_advisories.id', 'vulnerability_advisories.record'])
      .where('vulnerability_packages.ecosystem', '=', ecosystem)
      .where('vulnerability_packages.name', 'in', names)
      // Without an order each engine answers in its own; scans must read the same everywhere.
      .orderBy('vulnerability_advisories.id')
      .execute();
    const seen = new Map<string, string>();
    for (const row of rows) seen.set(row.id, row.record);
    return [...seen.values()];
  }

  /** The records with these ids (e.g. the CVE records that advisories name). */
  async advisoriesById(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('vulnerability_advisories')
      .select('record')
      .where('id', 'in', ids)
      .orderBy('id')
      .execute();
    return rows.map((row) => row.record);
  }

  async putResult(result: StoredScanResult): Promise<void> {
    const values = {
      registry_id: result.registryId,
      digest: result.digest,
      repository: result.repository,
      status: result.status,
      scanned_at: result.scannedAt,
      database_version: result.databaseVersion ?? null,
      result: result.result,
    };
    await this.db
      .insertInto('scan_results')
      .values(values)
      .onConflict((oc) => oc.columns(['registry_id', 'digest']).doUpdateSet(values))
      .execute();
  }

  async getResult(registryId: string, digest: string): Promise<StoredScanResult | undefined> {
    const row = await this.db
      .selectFrom('scan_results')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  /** A registry's results, newest first; all registries' when `registryId` is undefined. */
  async listResults(registryId?: string, repository?: string): Promise<StoredScanResult[]> {
    let select = this.db.selectFrom('scan_results').selectAll().orderBy('scanned_at', 'desc');
    if (registryId) select = select.where('registry_id', '=', registryId);
    if (repository) select = select.where('repository', '=', repository);
    return (await select.execute()).map(fromRow);
  }
}

function fromRow(row: Database['scan_results']): StoredScanResult {
  return {
    registryId: row.registry_id,
    digest: row.digest,
    repository: row.repository,
    status: row.status,
    scannedAt: row.scanned_at,
    ...(row.database_version ? { databaseVersion: row.database_version } : {}),
    result: row.result,
  };
}

function dedupe<T extends { ecosystem: string; name: string; advisory_id: string }>(
  rows: T[],
): T[] {
  const seen = new Map<string, T>();
  for (const row of rows)
    seen.set(`${row.ecosystem}\u0000${row.name}\u0000${row.advisory_id}`, row);
  return [...seen.values()];
}
