/**
 * @module metadata/sqlite
 * The embedded metadata backend: one SQLite file through better-sqlite3.
 */
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { KyselyMetadataStore } from './kysely-metadata-store.js';
import type { Database } from './schema.js';
import { wrapSqliteDatabase } from './sqlite-database.js';
import { storesOver, type MetadataStores } from './stores.js';
import { WalDurability } from './wal-durability.js';

/** Opens (creating and migrating) the stores over one SQLite file; `metadata.close()` closes it. */
export async function openSqliteStores(path: string): Promise<MetadataStores> {
  return storesOver(await openSqliteMetadataStore(path));
}

/** Opens (creating and migrating) the SQLite metadata store at `path` (`:memory:` for tests). */
export async function openSqliteMetadataStore(path: string): Promise<KyselyMetadataStore> {
  const database = new SqliteDatabase(path);
  // WAL lets readers proceed during a write. A commit only writes the log (synchronous=NORMAL,
  // it survives a process crash at once); the log is synced off the event loop before anything
  // is acknowledged (WalDurability), so an acknowledged commit survives power loss too.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const durability = path === ':memory:' ? undefined : new WalDurability(`${path}-wal`);
  const store = new KyselyMetadataStore(
    new Kysely<Database>({
      dialect: new SqliteDialect({
        database: wrapSqliteDatabase(database, { onCommit: () => durability?.committing() }),
      }),
    }),
    'sqlite',
    durability,
  );
  await store.migrate();
  return store;
}
