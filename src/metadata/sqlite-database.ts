/**
 * @module metadata/sqlite-database
 * The better-sqlite3 database as Kysely sees it: statements prepared once, and every commit
 * reported (for WalDurability) just before it runs.
 *
 * Kysely's SQLite driver prepares every query it runs; compiling the SQL was a tenth of the
 * server's CPU on the push path (the bench profile). Kysely takes the database as a plain
 * `{ prepare, close }` object, so this wrapper memoises statements by their SQL text. The driver
 * runs each statement synchronously right after preparing it (commits too: `commit` is a
 * statement), so a commit seen here has happened before any other code runs. Hand-written
 * because no kept library offers this for Kysely's dialect, and it is a few lines.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** SQL texts vary with IN-list lengths and batch sizes: keep the most recent ones. */
const MAX_STATEMENTS = 500;
const COMMIT = /^\s*(commit|end)\b/i;

export interface SqliteDatabaseOptions {
  /** Called for every statement that commits: a write outside a transaction, or a COMMIT. */
  onCommit?: () => void;
}

export function wrapSqliteDatabase(
  database: Database,
  { onCommit }: SqliteDatabaseOptions = {},
): SqliteDatabase {
  const statements = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    const cached = statements.get(sql);
    // A statement still iterating (a streamed query) cannot run again: give that caller its own.
    if (cached && !cached.busy) return cached;
    const statement = database.prepare(sql);
    if (!cached) {
      if (statements.size >= MAX_STATEMENTS) statements.delete(statements.keys().next().value!);
      statements.set(sql, statement);
    }
    return statement;
  };
  return {
    prepare(sql: string) {
      const statement = prepare(sql);
      if (onCommit && !statement.reader && (!database.inTransaction || COMMIT.test(sql))) {
        onCommit();
      }
      return statement;
    },
    close() {
      statements.clear();
      database.close();
    },
  };
}
