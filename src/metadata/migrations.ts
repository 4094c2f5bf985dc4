/**
 * @module metadata/migrations
 * The one migration set, shared by SQLite and PostgreSQL. Append new migrations; never edit a
 * released one. Column types come from `columnTypes(dialect)`: the two engines spell bytes
 * differently, and PostgreSQL text must compare byte by byte (see `text`).
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { ACCESS_TABLES } from './access-writes.js';

export type SqlDialect = 'sqlite' | 'postgres';

function columnTypes(dialect: SqlDialect) {
  return dialect === 'postgres'
    ? {
        // Listings page with `ORDER BY name` and `name > last` (OCI `n`/`last`): that order must be
        // the byte order on every engine, whatever collation the database was created with.
        text: sql`text collate "C"`,
        bytes: sql`bytea`,
      }
    : { text: sql`text`, bytes: sql`blob` };
}

function migrationsFor(dialect: SqlDialect): Record<string, Migration> {
  const t = columnTypes(dialect);
  return {
    '0001_data_plane': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('registries')
          .addColumn('id', t.text, (c) => c.primaryKey())
          .addColumn('name', t.text, (c) => c.notNull().unique())
          .addColumn('login_server', t.text, (c) => c.notNull())
          .addColumn('properties', t.text, (c) => c.notNull())
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addColumn('updated_at', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('registry_hosts')
          .addColumn('host', t.text, (c) => c.primaryKey())
          .addColumn('registry_id', t.text, (c) =>
            c.notNull().references('registries.id').onDelete('cascade'),
          )
          .execute();
        await db.schema
          .createTable('repositories')
          .addColumn('registry_id', t.text, (c) =>
            c.notNull().references('registries.id').onDelete('cascade'),
          )
          .addColumn('name', t.text, (c) => c.notNull())
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('repositories_pk', ['registry_id', 'name'])
          .execute();
        await db.schema
          .createTable('blobs')
          .addColumn('digest', t.text, (c) => c.primaryKey())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('created_at', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('repository_blobs')
          .addColumn('registry_id', t.text, (c) => c.notNull())
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('digest', t.text, (c) => c.notNull())
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('repository_blobs_pk', ['registry_id', 'repository', 'digest'])
          .execute();
        await db.schema
          .createIndex('repository_blobs_by_digest')
          .on('repository_blobs')
          .columns(['registry_id', 'digest'])
          .execute();
        await db.schema
          .createTable('manifests')
          .addColumn('registry_id', t.text, (c) => c.notNull())
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('digest', t.text, (c) => c.notNull())
          .addColumn('media_type', t.text, (c) => c.notNull())
          .addColumn('artifact_type', t.text)
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('content', t.bytes, (c) => c.notNull())
          .addColumn('subject', t.text)
          .addColumn('annotations', t.text)
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('manifests_pk', ['registry_id', 'repository', 'digest'])
          .execute();
        await db.schema
          .createIndex('manifests_by_subject')
          .on('manifests')
          .columns(['registry_id', 'repository', 'subject'])
          .execute();
        await db.schema
          .createTable('manifest_blobs')
          .addColumn('registry_id', t.text, (c) => c.notNull())
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('manifest_digest', t.text, (c) => c.notNull())
          .addColumn('blob_digest', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_blobs_pk', [
            'registry_id',
            'repository',
            'manifest_digest',
            'blob_digest',
          ])
          .execute();
        await db.schema
          .createIndex('manifest_blobs_by_blob')
          .on('manifest_blobs')
          .columns(['blob_digest'])
          .execute();
        await db.schema
          .createTable('manifest_children')
          .addColumn('registry_id', t.text, (c) => c.notNull())
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('manifest_digest', t.text, (c) => c.notNull())
          .addColumn('child_digest', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_children_pk', [
            'registry_id',
            'repository',
            'manifest_digest',
            'child_digest',
          ])
          .execute();
        await db.schema
          .createTable('tags')
          .addColumn('registry_id', t.text, (c) => c.notNull())
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('name', t.text, (c) => c.notNull())
          .addColumn('digest', t.text, (c) => c.notNull())
          .addColumn('updated_at', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('tags_pk', ['registry_id', 'repository', 'name'])
          .execute();
        await db.schema
          .createIndex('tags_by_digest')
          .on('tags')
          .columns(['registry_id', 'repository', 'digest'])
          .execute();
        await db.schema
          .createTable('uploads')
          .addColumn('id', t.text, (c) => c.primaryKey())
          .addColumn('registry_id', t.text, (c) => c.notNull())
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addColumn('updated_at', t.text, (c) => c.notNull())
          .execute();
      },
    },
    '0002_control_plane': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('tenants')
          .addColumn('id', t.text, (c) => c.primaryKey())
          .addColumn('display_name', t.text, (c) => c.notNull())
          .addColumn('created_at', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('subscriptions')
          .addColumn('id', t.text, (c) => c.primaryKey())
          .addColumn('tenant_id', t.text, (c) => c.notNull())
          .addColumn('display_name', t.text, (c) => c.notNull())
          .addColumn('state', t.text, (c) => c.notNull())
          .addColumn('created_at', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('principals')
          .addColumn('object_id', t.text, (c) => c.primaryKey())
          .addColumn('tenant_id', t.text, (c) => c.notNull())
          .addColumn('app_id', t.text, (c) => c.notNull().unique())
          .addColumn('kind', t.text, (c) => c.notNull())
          .addColumn('display_name', t.text, (c) => c.notNull())
          .addColumn('resource_id', t.text)
          .addColumn('created_at', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('principal_secrets')
          .addColumn('id', t.text, (c) => c.primaryKey())
          .addColumn('principal_id', t.text, (c) => c.notNull())
          .addColumn('hash', t.text, (c) => c.notNull())
          .addColumn('hint', t.text, (c) => c.notNull())
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addColumn('expires_at', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('principal_secrets_by_principal')
          .on('principal_secrets')
          .column('principal_id')
          .execute();
        await db.schema
          .createTable('resources')
          .addColumn('id_lower', t.text, (c) => c.primaryKey())
          .addColumn('id', t.text, (c) => c.notNull())
          .addColumn('type_lower', t.text, (c) => c.notNull())
          .addColumn('type', t.text, (c) => c.notNull())
          .addColumn('subscription_id', t.text, (c) => c.notNull())
          .addColumn('resource_group_lower', t.text)
          .addColumn('name', t.text, (c) => c.notNull())
          .addColumn('location', t.text)
          .addColumn('tags', t.text)
          .addColumn('sku', t.text)
          .addColumn('identity', t.text)
          .addColumn('properties', t.text, (c) => c.notNull())
          .addColumn('system_data', t.text)
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addColumn('updated_at', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('resources_by_type')
          .on('resources')
          .columns(['subscription_id', 'type_lower'])
          .execute();
        await db.schema
          .createTable('role_assignments')
          .addColumn('name', t.text, (c) => c.primaryKey())
          .addColumn('scope', t.text, (c) => c.notNull())
          .addColumn('scope_lower', t.text, (c) => c.notNull())
          .addColumn('role_definition_id', t.text, (c) => c.notNull())
          .addColumn('principal_id', t.text, (c) => c.notNull())
          .addColumn('principal_type', t.text)
          .addColumn('condition', t.text)
          .addColumn('condition_version', t.text)
          .addColumn('description', t.text)
          .addColumn('created_by', t.text)
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addColumn('updated_at', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('role_assignments_by_principal')
          .on('role_assignments')
          .column('principal_id')
          .execute();
        await db.schema
          .createTable('registry_credentials')
          .addColumn('registry_id', t.text, (c) => c.notNull())
          .addColumn('name', t.text, (c) => c.notNull())
          .addColumn('hash', t.text, (c) => c.notNull())
          .addColumn('sealed', t.text, (c) => c.notNull())
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('registry_credentials_pk', ['registry_id', 'name'])
          .execute();
        for (const column of [
          'resource_id',
          'subscription_id',
          'resource_group',
          'location',
          'sku',
          'tags',
          'identity',
          'system_data',
        ]) {
          await db.schema.alterTable('registries').addColumn(column, t.text).execute();
        }
      },
    },
    '0003_changeable_attributes': {
      async up(db: Kysely<unknown>) {
        // ACR's changeableAttributes (repository locks): JSON, null = every operation enabled.
        for (const table of ['repositories', 'manifests', 'tags']) {
          await db.schema.alterTable(table).addColumn('attributes', t.text).execute();
        }
      },
    },
    '0004_access_log': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('access_log')
          .addColumn('id', t.text, (c) => c.primaryKey())
          .addColumn('time', t.text, (c) => c.notNull())
          .addColumn('registry', t.text, (c) => c.notNull())
          .addColumn('result', t.text, (c) => c.notNull())
          .addColumn('principal', t.text)
          .addColumn('record', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('access_log_by_registry_time')
          .on('access_log')
          .columns(['registry', 'time'])
          .execute();
      },
    },
    '0005_task_runs': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('run_logs')
          .addColumn('run_id', t.text, (c) => c.notNull())
          .addColumn('sequence', 'integer', (c) => c.notNull())
          .addColumn('content', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('run_logs_pk', ['run_id', 'sequence'])
          .execute();
      },
    },
    '0006_scanner': {
      async up(db: Kysely<unknown>) {
        // The vulnerability database: one imported snapshot of OSV records at a time.
        await db.schema
          .createTable('vulnerability_database')
          .addColumn('id', t.text, (c) => c.primaryKey())
          .addColumn('version', t.text, (c) => c.notNull())
          .addColumn('content_hash', t.text, (c) => c.notNull())
          .addColumn('imported_at', t.text, (c) => c.notNull())
          .addColumn('advisory_count', 'integer', (c) => c.notNull())
          .addColumn('source', t.text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('vulnerability_advisories')
          .addColumn('id', t.text, (c) => c.primaryKey())
          .addColumn('modified', t.text, (c) => c.notNull())
          .addColumn('record', t.text, (c) => c.notNull())
          .execute();
        // (ecosystem without release, package name as the ecosystem compares it) -> advisory.
        await db.schema
          .createTable('vulnerability_packages')
          .addColumn('ecosystem', t.text, (c) => c.notNull())
          .addColumn('name', t.text, (c) => c.notNull())
          .addColumn('advisory_id', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('vulnerability_packages_pk', [
            'ecosystem',
            'name',
            'advisory_id',
          ])
          .execute();
        // The latest scan of each manifest digest in a registry.
        await db.schema
          .createTable('scan_results')
          .addColumn('registry_id', t.text, (c) =>
            c.notNull().references('registries.id').onDelete('cascade'),
          )
          .addColumn('digest', t.text, (c) => c.notNull())
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('status', t.text, (c) => c.notNull())
          .addColumn('scanned_at', t.text, (c) => c.notNull())
          .addColumn('database_version', t.text)
          .addColumn('result', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('scan_results_pk', ['registry_id', 'digest'])
          .execute();
      },
    },
    '0007_garbage_collection': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('uploads').addColumn('claimed_digest', t.text).execute();
        await db.schema
          .createIndex('uploads_by_claimed_digest')
          .on('uploads')
          .column('claimed_digest')
          .execute();
        // Collection asks "does anything still link or reference this digest", across registries.
        await db.schema
          .createIndex('repository_blobs_by_digest_only')
          .on('repository_blobs')
          .column('digest')
          .execute();
        await db.schema
          .createIndex('manifest_children_by_child')
          .on('manifest_children')
          .columns(['registry_id', 'repository', 'child_digest'])
          .execute();
      },
    },
    '0008_access_generation': {
      // One counter that every change to what the access decision reads moves forward, by
      // trigger, whichever code path or replica makes the change. A replica may keep those reads
      // while the counter stands still (see access/control-plane-reads).
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('access_generation')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('value', 'bigint', (c) => c.notNull())
          .execute();
        await sql`insert into access_generation (id, value) values (1, 0)`.execute(db);
        const bump = sql.raw('update access_generation set value = value + 1 where id = 1');
        if (dialect === 'postgres') {
          await sql`create function bump_access_generation() returns trigger language plpgsql as $$ begin ${bump}; return null; end $$`.execute(
            db,
          );
        }
        for (const table of ACCESS_TABLES) {
          if (dialect === 'postgres') {
            await sql`create trigger ${sql.raw(`${table}_access_generation`)} after insert or update or delete on ${sql.table(table)} for each statement execute function bump_access_generation()`.execute(
              db,
            );
            continue;
          }
          for (const event of ['insert', 'update', 'delete']) {
            await sql`create trigger ${sql.raw(`${table}_${event}_access_generation`)} after ${sql.raw(event)} on ${sql.table(table)} begin ${bump}; end`.execute(
              db,
            );
          }
        }
      },
    },
    '0009_soft_delete': {
      async up(db: Kysely<unknown>) {
        // softDeletePolicy: deleted manifests and tags stay restorable until they expire.
        await db.schema
          .createTable('deleted_manifests')
          .addColumn('registry_id', t.text, (c) =>
            c.notNull().references('registries.id').onDelete('cascade'),
          )
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('digest', t.text, (c) => c.notNull())
          .addColumn('media_type', t.text, (c) => c.notNull())
          .addColumn('artifact_type', t.text)
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('content', t.bytes, (c) => c.notNull())
          .addColumn('subject', t.text)
          .addColumn('annotations', t.text)
          .addColumn('created_at', t.text, (c) => c.notNull())
          .addColumn('deleted_at', t.text, (c) => c.notNull())
          .addColumn('children', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('deleted_manifests_pk', ['registry_id', 'repository', 'digest'])
          .execute();
        await db.schema
          .createTable('deleted_manifest_blobs')
          .addColumn('registry_id', t.text, (c) => c.notNull())
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('manifest_digest', t.text, (c) => c.notNull())
          .addColumn('blob_digest', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('deleted_manifest_blobs_pk', [
            'registry_id',
            'repository',
            'manifest_digest',
            'blob_digest',
          ])
          .execute();
        // Collection asks "does a soft-deleted manifest still need this blob".
        await db.schema
          .createIndex('deleted_manifest_blobs_by_blob')
          .on('deleted_manifest_blobs')
          .column('blob_digest')
          .execute();
        await db.schema
          .createTable('deleted_tags')
          .addColumn('registry_id', t.text, (c) =>
            c.notNull().references('registries.id').onDelete('cascade'),
          )
          .addColumn('repository', t.text, (c) => c.notNull())
          .addColumn('name', t.text, (c) => c.notNull())
          .addColumn('digest', t.text, (c) => c.notNull())
          .addColumn('deleted_at', t.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('deleted_tags_pk', [
            'registry_id',
            'repository',
            'name',
            'digest',
          ])
          .execute();
      },
    },
    '0010_registry_generation': {
      // Creating or deleting a registry moves the access generation too: a private endpoint's
      // listener exists only while its registry does, and every replica reconciles its
      // listeners when the generation moves (server/reconcile-on-change). Updates leave it
      // alone: no listener depends on a registry's settings, which requests read fresh.
      async up(db: Kysely<unknown>) {
        const bump = sql.raw('update access_generation set value = value + 1 where id = 1');
        if (dialect === 'postgres') {
          await sql`create trigger registries_access_generation after insert or delete on registries for each statement execute function bump_access_generation()`.execute(
            db,
          );
          return;
        }
        for (const event of ['insert', 'delete']) {
          await sql`create trigger ${sql.raw(`registries_${event}_access_generation`)} after ${sql.raw(event)} on registries begin ${bump}; end`.execute(
            db,
          );
        }
      },
    },
    '0011_work_leases': {
      async up(db: Kysely<unknown>) {
        // Every write to a resource moves its version, so a replica can write a resource only
        // if nobody else changed it since it was read (compare-and-set). The access-generation
        // triggers of 0008 stay as they are: they fire per statement, whatever the columns.
        await db.schema
          .alterTable('resources')
          .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        // Which process is doing a piece of long-running work (a task run, an ML job, a container
        // group) and until when its claim holds unless renewed. Kept apart from `resources`:
        // renewing every few seconds must not move the access generation that every replica's
        // access reads follow.
        await db.schema
          .createTable('work_leases')
          .addColumn('resource_id', t.text, (c) => c.primaryKey())
          .addColumn('owner', t.text, (c) => c.notNull())
          .addColumn('expires_at', t.text, (c) => c.notNull())
          .execute();
      },
    },
  };
}

export function migrationProvider(dialect: SqlDialect): MigrationProvider {
  return {
    async getMigrations() {
      return migrationsFor(dialect);
    },
  };
}
