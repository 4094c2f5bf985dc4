/**
 * @module metadata/sqlite
 * The embedded metadata backend: one SQLite file through better-sqlite3.
 */
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { AccessLogStore } from './access-log-store.js';
import { RunLogStore } from './run-log-store.js';
import { KyselyControlPlaneStore } from './kysely-control-plane-store.js';
import { KyselyMetadataStore } from './kysely-metadata-store.js';
import type { Database } from './schema.js';

export interface SqliteStores {
  metadata: KyselyMetadataStore;
  controlPlane: KyselyControlPlaneStore;
  accessLog: AccessLogStore;
  runLogs: RunLogStore;
}

/** Opens (creating and migrating) both stores over one SQLite file; `metadata.close()` closes it. */
export async function openSqliteStores(path: string): Promise<SqliteStores> {
  const metadata = await openSqliteMetadataStore(path);
  return {
    metadata,
    controlPlane: new KyselyControlPlaneStore(metadata.database),
    accessLog: new AccessLogStore(metadata.database),
    runLogs: new RunLogStore(metadata.database),
  };
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
    new Kysely<Database>({ dialect: new SqliteDialect({ database }) }),
  );
  await store.migrate();
  return store;
}
