/**
 * @module metadata/migrations
 * The one migration set, shared by SQLite and PostgreSQL (portable types only). Append new
 * migrations; never edit a released one.
 */
import type { Kysely, Migration, MigrationProvider } from 'kysely';

const migrations: Record<string, Migration> = {
  '0001_data_plane': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('registries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('login_server', 'text', (c) => c.notNull())
        .addColumn('properties', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('registry_hosts')
        .addColumn('host', 'text', (c) => c.primaryKey())
        .addColumn('registry_id', 'text', (c) =>
          c.notNull().references('registries.id').onDelete('cascade'),
        )
        .execute();
      await db.schema
        .createTable('repositories')
        .addColumn('registry_id', 'text', (c) =>
          c.notNull().references('registries.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('repositories_pk', ['registry_id', 'name'])
        .execute();
      await db.schema
        .createTable('blobs')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('repository_blobs')
        .addColumn('registry_id', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pk', ['registry_id', 'repository', 'digest'])
        .execute();
      await db.schema
        .createIndex('repository_blobs_by_digest')
        .on('repository_blobs')
        .columns(['registry_id', 'digest'])
        .execute();
      await db.schema
        .createTable('manifests')
        .addColumn('registry_id', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('artifact_type', 'text')
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('content', 'blob', (c) => c.notNull())
        .addColumn('subject', 'text')
        .addColumn('annotations', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifests_pk', ['registry_id', 'repository', 'digest'])
        .execute();
      await db.schema
        .createIndex('manifests_by_subject')
        .on('manifests')
        .columns(['registry_id', 'repository', 'subject'])
        .execute();
      await db.schema
        .createTable('manifest_blobs')
        .addColumn('registry_id', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addColumn('blob_digest', 'text', (c) => c.notNull())
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
        .addColumn('registry_id', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addColumn('child_digest', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_children_pk', [
          'registry_id',
          'repository',
          'manifest_digest',
          'child_digest',
        ])
        .execute();
      await db.schema
        .createTable('tags')
        .addColumn('registry_id', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['registry_id', 'repository', 'name'])
        .execute();
      await db.schema
        .createIndex('tags_by_digest')
        .on('tags')
        .columns(['registry_id', 'repository', 'digest'])
        .execute();
      await db.schema
        .createTable('uploads')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('registry_id', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0002_control_plane': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('subscriptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('principals')
        .addColumn('object_id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('app_id', 'text', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('resource_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('principal_secrets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('principal_id', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('hint', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('principal_secrets_by_principal')
        .on('principal_secrets')
        .column('principal_id')
        .execute();
      await db.schema
        .createTable('resources')
        .addColumn('id_lower', 'text', (c) => c.primaryKey())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('type_lower', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('resource_group_lower', 'text')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('location', 'text')
        .addColumn('tags', 'text')
        .addColumn('sku', 'text')
        .addColumn('identity', 'text')
        .addColumn('properties', 'text', (c) => c.notNull())
        .addColumn('system_data', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('resources_by_type')
        .on('resources')
        .columns(['subscription_id', 'type_lower'])
        .execute();
      await db.schema
        .createTable('role_assignments')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('scope_lower', 'text', (c) => c.notNull())
        .addColumn('role_definition_id', 'text', (c) => c.notNull())
        .addColumn('principal_id', 'text', (c) => c.notNull())
        .addColumn('principal_type', 'text')
        .addColumn('condition', 'text')
        .addColumn('condition_version', 'text')
        .addColumn('description', 'text')
        .addColumn('created_by', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('role_assignments_by_principal')
        .on('role_assignments')
        .column('principal_id')
        .execute();
      await db.schema
        .createTable('registry_credentials')
        .addColumn('registry_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
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
        await db.schema.alterTable('registries').addColumn(column, 'text').execute();
      }
    },
  },
  '0003_changeable_attributes': {
    async up(db: Kysely<unknown>) {
      // ACR's changeableAttributes (repository locks): JSON, null = every operation enabled.
      for (const table of ['repositories', 'manifests', 'tags']) {
        await db.schema.alterTable(table).addColumn('attributes', 'text').execute();
      }
    },
  },
  '0004_access_log': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('access_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('time', 'text', (c) => c.notNull())
        .addColumn('registry', 'text', (c) => c.notNull())
        .addColumn('result', 'text', (c) => c.notNull())
        .addColumn('principal', 'text')
        .addColumn('record', 'text', (c) => c.notNull())
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
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('sequence', 'integer', (c) => c.notNull())
        .addColumn('content', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('run_logs_pk', ['run_id', 'sequence'])
        .execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
