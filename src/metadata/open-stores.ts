/**
 * @module metadata/open-stores
 * Picks the metadata engine from the `metadataUrl` setting: empty = the embedded SQLite file,
 * `postgres://` / `postgresql://` = a shared PostgreSQL database.
 */
import { openSqliteStores } from './sqlite.js';
import type { MetadataStores } from './stores.js';

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

export async function openMetadataStores(options: {
  metadataUrl: string;
  sqlitePath: string;
}): Promise<MetadataStores> {
  if (!options.metadataUrl) return openSqliteStores(options.sqlitePath);
  if (isPostgresUrl(options.metadataUrl)) {
    // pg loads only when used.
    const { openPostgresStores } = await import('./postgres.js');
    return openPostgresStores(options.metadataUrl);
  }
  throw new Error(`metadataUrl must be a postgres:// URL (or empty for SQLite)`);
}
