/**
 * @module metadata/statement-cache
 * A better-sqlite3 database whose `prepare` reuses compiled statements.
 *
 * Kysely's SQLite driver prepares every query it runs; compiling the SQL was a tenth of the
 * server's CPU on the push path (the bench profile). Kysely takes the database as a plain
 * `{ prepare, close }` object, so this wrapper memoises statements by their SQL text. It is
 * hand-written because no kept library offers this for Kysely's dialect, and it is a few lines.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** SQL texts vary with IN-list lengths and batch sizes: keep the most recent ones. */
const MAX_STATEMENTS = 500;

export function withStatementCache(database: Database): SqliteDatabase {
  const statements = new Map<string, Statement>();
  return {
    prepare(sql: string) {
      const cached = statements.get(sql);
      // A statement still iterating (a streamed query) cannot run again: give that caller its own.
      if (cached && !cached.busy) return cached;
      const statement = database.prepare(sql);
      if (!cached) {
        if (statements.size >= MAX_STATEMENTS) {
          statements.delete(statements.keys().next().value!);
        }
        statements.set(sql, statement);
      }
      return statement;
    },
    close() {
      statements.clear();
      database.close();
    },
  };
}
