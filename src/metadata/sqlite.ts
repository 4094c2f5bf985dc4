/**
 * @module metadata/sqlite
 * The embedded metadata backend: one SQLite file through better-sqlite3.
 */
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { KyselyMetadataStore } from './kysely-metadata-store.js';
import type { Database } from './schema.js';
import { withStatementCache } from './statement-cache.js';
import { storesOver, type MetadataStores } from './stores.js';

/** Opens (creating and migrating) the stores over one SQLite file; `metadata.close()` closes it. */
export async function openSqliteStores(path: string): Promise<MetadataStores> {
  return storesOver(await openSqliteMetadataStore(path));
}

/** Opens (creating and migrating) the SQLite metadata store at `path` (`:memory:` for tests). */
export async function openSqliteMetadataStore(path: string): Promise<KyselyMetadataStore> {
  const database = new SqliteDatabase(path);
  // WAL lets readers proceed during a write; synchronous=FULL makes every acknowledged commit
  // (a pushed manifest, a tag) survive power loss, not only a process crash.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = FULL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const store = new KyselyMetadataStore(
    new Kysely<Database>({
      dialect: new SqliteDialect({ database: withStatementCache(database) }),
    }),
    'sqlite',
  );
  await store.migrate();
  return store;
}
