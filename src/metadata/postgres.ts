/**
 * @module metadata/postgres
 * The shared metadata backend for many replicas: PostgreSQL through node-postgres (`pg`), with
 * the same Kysely queries and migrations as SQLite.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { KyselyMetadataStore } from './kysely-metadata-store.js';
import type { Database } from './schema.js';
import { storesOver, type MetadataStores } from './stores.js';

const INT8_OID = 20;

/** Opens (migrating) the stores in the database at `url` (`postgres://user:pass@host/db`). */
export async function openPostgresStores(url: string): Promise<MetadataStores> {
  return storesOver(await openPostgresMetadataStore(url));
}

export async function openPostgresMetadataStore(url: string): Promise<KyselyMetadataStore> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    // Sizes and counts are int8: node-postgres hands them over as strings by default. They are
    // far below 2^53, so numbers are exact (and match what better-sqlite3 returns).
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection the server dropped (restart, failover) must not crash the process.
  pool.on('error', () => undefined);
  const store = new KyselyMetadataStore(
    new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
    'postgres',
  );
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
