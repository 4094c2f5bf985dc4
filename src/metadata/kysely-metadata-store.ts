/**
 * @module metadata/kysely-metadata-store
 * MetadataStore over Kysely: the same queries serve SQLite and PostgreSQL (`dialect` only adds
 * row locks where PostgreSQL's concurrent writers need them).
 */
import { randomUUID } from 'node:crypto';
import { Migrator, sql, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import { ALL_ENABLED } from './metadata-store.js';
import type {
  AttributeTarget,
  ChangeableAttributes,
  DeletedManifestInfo,
  DeletedTagRecord,
  ManifestInfo,
  RepositoryInfo,
  RegistryArmEnvelope,
  RegistryUpdate,
  ManifestRecord,
  MetadataStore,
  MissingReferences,
  NewManifest,
  NewRegistry,
  Page,
  ReferrerRecord,
  RegistryRecord,
  RestoreOutcome,
  RestoreRequest,
  TagRecord,
  UploadRecord,
} from './metadata-store.js';
import { AccessWriteCounter } from './access-writes.js';
import type { WalDurability } from './wal-durability.js';
import { migrationProvider, type SqlDialect } from './migrations.js';
import type { Database, RegistriesTable } from './schema.js';

/**
 * PostgreSQL advisory lock between garbage collection (exclusive) and what makes content
 * reachable: manifest pushes, upload publishes, mounts and upload claims (shared).
 */
const COLLECTION_LOCK = 0x42776763;

/** Keeps IN (...) lists under every dialect's bound-parameter limit. */
const IN_LIST_CHUNK = 500;

function now(): string {
  return new Date().toISOString();
}

function chunks<T>(values: T[]): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < values.length; i += IN_LIST_CHUNK) {
    result.push(values.slice(i, i + IN_LIST_CHUNK));
  }
  return result;
}

export class KyselyMetadataStore implements MetadataStore {
  /** Parsed registry records by id; valid while their `updatedAt` matches the row's. */
  private readonly registryCache = new Map<string, RegistryRecord>();

  /** This process's writes to the tables the access decision reads, through any store. */
  readonly accessWrites = new AccessWriteCounter();
  private readonly db: Kysely<Database>;

  constructor(
    db: Kysely<Database>,
    readonly dialect: SqlDialect = 'sqlite',
    /** SQLite on a file: commits synced in groups before they are acknowledged. */
    private readonly durability?: WalDurability,
  ) {
    this.db = db.withPlugin(this.accessWrites);
  }

  hasUnsyncedCommits(): boolean {
    return this.durability?.pending ?? false;
  }

  async syncCommits(): Promise<void> {
    await this.durability?.sync();
  }

  /** The shared Kysely instance, for the other stores over the same database. */
  get database(): Kysely<Database> {
    return this.db;
  }

  /** Brings the schema up to date; safe to run on every start. */
  async migrate(): Promise<void> {
    // On PostgreSQL Kysely takes an advisory lock, so replicas starting together migrate once.
    const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.dialect) });
    const { error, results } = await migrator.migrateToLatest();
    const failed = results?.find((r) => r.status === 'Error');
    if (error || failed) {
      throw new Error(`metadata migration ${failed?.migrationName ?? ''} failed`, { cause: error });
    }
  }

  /**
   * Takes the collection lock for the rest of the transaction. SQLite needs none: its one
   * connection runs one transaction at a time.
   */
  private async collectionLock(trx: Transaction<Database>, mode: 'shared' | 'exclusive') {
    if (this.dialect !== 'postgres') return;
    const lock =
      mode === 'shared'
        ? sql`select pg_advisory_xact_lock_shared(${sql.lit(COLLECTION_LOCK)})`
        : sql`select pg_advisory_xact_lock(${sql.lit(COLLECTION_LOCK)})`;
    await lock.execute(trx);
  }

  // Registries

  async createRegistry(registry: NewRegistry): Promise<RegistryRecord> {
    const id = randomUUID();
    const timestamp = now();
    const hosts = [registry.loginServer, ...(registry.aliases ?? [])].map((h) => h.toLowerCase());
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('registries')
        .values({
          id,
          name: registry.name,
          login_server: registry.loginServer.toLowerCase(),
          properties: JSON.stringify(registry.properties ?? {}),
          created_at: timestamp,
          updated_at: timestamp,
          ...armColumns(registry.arm),
        })
        .execute();
      for (const host of new Set(hosts)) {
        await trx.insertInto('registry_hosts').values({ host, registry_id: id }).execute();
      }
    });
    const created = await this.getRegistryById(id);
    if (!created) throw new Error('registry vanished after insert');
    return created;
  }

  async getRegistryById(id: string): Promise<RegistryRecord | undefined> {
    const row = await this.db
      .selectFrom('registries')
      .select(['id', 'updated_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? this.loadRegistry(row.id, row.updated_at) : undefined;
  }

  /**
   * A registry's record, parsed once per version. Every lookup still reads the row's
   * `updated_at` from the database, and every change (settings, hosts) moves it forward, so a
   * change applies to the very next request on every replica; only re-parsing an unchanged
   * record is saved (with 10,000 IP rules its properties are hundreds of KiB of JSON).
   */
  private async loadRegistry(id: string, version: string): Promise<RegistryRecord | undefined> {
    const cached = this.registryCache.get(id);
    if (cached && cached.updatedAt === version) return cached;
    const row = await this.db
      .selectFrom('registries')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const record = await this.toRegistry(row);
    this.registryCache.set(id, record);
    return record;
  }

  /** A timestamp strictly after `previous`, so two changes in one millisecond still differ. */
  private nextVersion(previous: string): string {
    const now = Date.now();
    const after = Date.parse(previous) + 1;
    return new Date(Math.max(now, Number.isNaN(after) ? now : after)).toISOString();
  }

  private async toRegistry(
    row: RegistriesTable,
    db: Kysely<Database> | Transaction<Database> = this.db,
  ): Promise<RegistryRecord> {
    const hosts = await db
      .selectFrom('registry_hosts')
      .select('host')
      .where('registry_id', '=', row.id)
      .orderBy('host')
      .execute();
    return {
      id: row.id,
      name: row.name,
      loginServer: row.login_server,
      aliases: hosts.map((h) => h.host).filter((h) => h !== row.login_server),
      properties: JSON.parse(row.properties) as Record<string, unknown>,
      arm: row.resource_id
        ? {
            resourceId: row.resource_id,
            subscriptionId: row.subscription_id ?? '',
            resourceGroup: row.resource_group ?? '',
            location: row.location ?? '',
            sku: parseJson(row.sku) ?? { name: 'Premium' },
            tags: parseJson(row.tags) ?? {},
            identity: parseJson(row.identity),
            systemData: parseJson(row.system_data),
          }
        : null,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  async updateRegistry(
    id: string,
    change: (current: RegistryRecord) => RegistryUpdate,
  ): Promise<RegistryRecord | undefined> {
    const updated = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('registries')
        .selectAll()
        .where('id', '=', id)
        // SQLite runs one writer at a time; on PostgreSQL the row lock keeps two replicas'
        // read-modify-write from losing one of the changes.
        .$if(this.dialect === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (!row) return false;
      // Inside the transaction, read through it: SQLite has one connection.
      const current = await this.toRegistry(row, trx);
      const { properties, arm } = change(current);
      await trx
        .updateTable('registries')
        .set({
          updated_at: this.nextVersion(row.updated_at),
          ...(properties ? { properties: JSON.stringify(properties) } : {}),
          ...(arm?.location !== undefined ? { location: arm.location } : {}),
          ...(arm?.sku !== undefined ? { sku: JSON.stringify(arm.sku) } : {}),
          ...(arm?.tags !== undefined ? { tags: JSON.stringify(arm.tags) } : {}),
          ...(arm?.identity !== undefined ? { identity: JSON.stringify(arm.identity) } : {}),
          ...(arm?.systemData !== undefined ? { system_data: JSON.stringify(arm.systemData) } : {}),
        })
        .where('id', '=', id)
        .execute();
      return true;
    });
    return updated ? this.getRegistryById(id) : undefined;
  }

  async deleteRegistry(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      for (const table of [
        'tags',
        'manifest_children',
        'manifest_blobs',
        'manifests',
        'repository_blobs',
        'repositories',
        'uploads',
        'deleted_tags',
        'deleted_manifest_blobs',
        'deleted_manifests',
        'registry_hosts',
        'registry_credentials',
      ] as const) {
        await trx.deleteFrom(table).where('registry_id', '=', id).execute();
      }
      this.registryCache.delete(id);
      const result = await trx.deleteFrom('registries').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async getRegistryByName(name: string): Promise<RegistryRecord | undefined> {
    const row = await this.db
      .selectFrom('registries')
      .select(['id', 'updated_at'])
      .where('name', '=', name.toLowerCase())
      .executeTakeFirst();
    return row ? this.loadRegistry(row.id, row.updated_at) : undefined;
  }

  async getRegistryByHost(host: string): Promise<RegistryRecord | undefined> {
    const row = await this.db
      .selectFrom('registry_hosts')
      .innerJoin('registries', 'registries.id', 'registry_hosts.registry_id')
      .select(['registries.id', 'registries.updated_at'])
      .where('registry_hosts.host', '=', host.toLowerCase())
      .executeTakeFirst();
    return row ? this.loadRegistry(row.id, row.updated_at) : undefined;
  }

  async listRegistries(): Promise<RegistryRecord[]> {
    const rows = await this.db.selectFrom('registries').selectAll().orderBy('name').execute();
    return Promise.all(rows.map((row) => this.toRegistry(row)));
  }

  async addRegistryHost(registryId: string, host: string): Promise<boolean> {
    const normalized = host.toLowerCase();
    await this.db
      .insertInto('registry_hosts')
      .values({ host: normalized, registry_id: registryId })
      .onConflict((oc) => oc.doNothing())
      .execute();
    const owner = await this.db
      .selectFrom('registry_hosts')
      .select('registry_id')
      .where('host', '=', normalized)
      .executeTakeFirst();
    // Hosts are part of the record: move its version so cached copies are refreshed.
    const current = await this.db
      .selectFrom('registries')
      .select('updated_at')
      .where('id', '=', registryId)
      .executeTakeFirst();
    if (current) {
      await this.db
        .updateTable('registries')
        .set({ updated_at: this.nextVersion(current.updated_at) })
        .where('id', '=', registryId)
        .execute();
    }
    return owner?.registry_id === registryId;
  }

  // Repositories

  async repositoryExists(registryId: string, repository: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('repositories')
      .select('name')
      .where('registry_id', '=', registryId)
      .where('name', '=', repository)
      .executeTakeFirst();
    return row !== undefined;
  }

  async listRepositories(registryId: string, page: Page = {}): Promise<string[]> {
    let query = this.db
      .selectFrom('repositories')
      .select('name')
      .where('registry_id', '=', registryId)
      .where((eb) => listed(eb))
      .orderBy('name');
    if (page.last !== undefined) query = query.where('name', '>', page.last);
    if (page.limit !== undefined) query = query.limit(page.limit);
    return (await query.execute()).map((r) => r.name);
  }

  private async ensureRepository(
    trx: Kysely<Database> | Transaction<Database>,
    registryId: string,
    repository: string,
  ): Promise<void> {
    await trx
      .insertInto('repositories')
      .values({ registry_id: registryId, name: repository, created_at: now() })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  // Blobs

  async recordBlob(digest: string, size: number): Promise<void> {
    await this.db
      .insertInto('blobs')
      .values({ digest, size, created_at: now() })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async getBlobSize(digest: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('blobs')
      .select('size')
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row ? Number(row.size) : undefined;
  }

  async publishUpload(
    registryId: string,
    repository: string,
    digest: string,
    size: number,
    uploadId: string,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.collectionLock(trx, 'shared');
      const timestamp = now();
      await trx
        .insertInto('blobs')
        .values({ digest, size, created_at: timestamp })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await this.ensureRepository(trx, registryId, repository);
      await this.freshLink(trx, registryId, repository, digest, timestamp);
      await trx.deleteFrom('uploads').where('id', '=', uploadId).execute();
    });
  }

  /**
   * Links a blob, or renews an existing link's time: a blob pushed again is as new as its
   * latest push, so collection's grace period protects it until its manifest arrives.
   */
  private async freshLink(
    trx: Transaction<Database>,
    registryId: string,
    repository: string,
    digest: string,
    timestamp: string,
  ): Promise<void> {
    await trx
      .insertInto('repository_blobs')
      .values({ registry_id: registryId, repository, digest, created_at: timestamp })
      .onConflict((oc) =>
        oc.columns(['registry_id', 'repository', 'digest']).doUpdateSet({ created_at: timestamp }),
      )
      .execute();
  }

  async linkBlob(registryId: string, repository: string, digest: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.collectionLock(trx, 'shared');
      await this.ensureRepository(trx, registryId, repository);
      await this.freshLink(trx, registryId, repository, digest, now());
    });
  }

  async getLinkedBlob(
    registryId: string,
    repository: string,
    digest: string,
  ): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('repository_blobs')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select('blobs.size')
      .where('repository_blobs.registry_id', '=', registryId)
      .where('repository_blobs.repository', '=', repository)
      .where('repository_blobs.digest', '=', digest)
      .executeTakeFirst();
    return row ? Number(row.size) : undefined;
  }

  async unlinkBlob(
    registryId: string,
    repository: string,
    digest: string,
  ): Promise<'unlinked' | 'unknown' | { referencedBy: string }> {
    return this.db.transaction().execute(async (trx) => {
      // Exclusive, like collection: a manifest put (shared) cannot check this link between
      // the reference check and the delete (PostgreSQL; SQLite runs one writer at a time).
      await this.collectionLock(trx, 'exclusive');
      const reference = await trx
        .selectFrom('manifest_blobs')
        .select('manifest_digest')
        .where('registry_id', '=', registryId)
        .where('repository', '=', repository)
        .where('blob_digest', '=', digest)
        .executeTakeFirst();
      if (reference) return { referencedBy: reference.manifest_digest };
      const result = await trx
        .deleteFrom('repository_blobs')
        .where('registry_id', '=', registryId)
        .where('repository', '=', repository)
        .where('digest', '=', digest)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0 ? 'unlinked' : 'unknown';
    });
  }

  async findRepositoryWithBlob(registryId: string, digest: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('repository_blobs')
      .select('repository')
      .where('registry_id', '=', registryId)
      .where('digest', '=', digest)
      .orderBy('repository')
      .executeTakeFirst();
    return row?.repository;
  }

  // Manifests and tags

  async putManifest(
    registryId: string,
    repository: string,
    manifest: NewManifest,
  ): Promise<MissingReferences | undefined> {
    return this.db.transaction().execute(async (trx) => {
      await this.collectionLock(trx, 'shared');
      const missingBlobs = await this.missing(
        trx,
        'repository_blobs',
        registryId,
        repository,
        manifest.blobs,
      );
      const missingManifests = await this.missing(
        trx,
        'manifests',
        registryId,
        repository,
        manifest.children,
      );
      if (missingBlobs.length > 0 || missingManifests.length > 0) {
        return { missingBlobs, missingManifests };
      }
      const timestamp = now();
      await this.ensureRepository(trx, registryId, repository);
      await trx
        .insertInto('manifests')
        .values({
          registry_id: registryId,
          repository,
          digest: manifest.digest,
          media_type: manifest.mediaType,
          artifact_type: manifest.artifactType ?? null,
          size: manifest.content.length,
          content: manifest.content,
          subject: manifest.subject ?? null,
          annotations: manifest.annotations ? JSON.stringify(manifest.annotations) : null,
          created_at: timestamp,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await this.recordContents(trx, registryId, repository, manifest.digest, {
        blobs: manifest.blobs,
        children: manifest.children,
      });
      if (manifest.tag !== undefined) {
        await trx
          .insertInto('tags')
          .values({
            registry_id: registryId,
            repository,
            name: manifest.tag,
            digest: manifest.digest,
            updated_at: timestamp,
          })
          .onConflict((oc) =>
            oc
              .columns(['registry_id', 'repository', 'name'])
              .doUpdateSet({ digest: manifest.digest, updated_at: timestamp }),
          )
          .execute();
      }
      return undefined;
    });
  }

  /** The digests of `wanted` that the repository does not have in `table`. */
  private async missing(
    trx: Transaction<Database>,
    table: 'repository_blobs' | 'manifests',
    registryId: string,
    repository: string,
    wanted: string[],
  ): Promise<string[]> {
    const found = new Set<string>();
    for (const part of chunks(wanted)) {
      const rows = await trx
        .selectFrom(table)
        .select('digest')
        .where('registry_id', '=', registryId)
        .where('repository', '=', repository)
        .where('digest', 'in', part)
        .execute();
      for (const row of rows) found.add(row.digest);
    }
    return wanted.filter((digest) => !found.has(digest));
  }

  async getManifest(
    registryId: string,
    repository: string,
    digest: string,
  ): Promise<ManifestRecord | undefined> {
    const row = await this.db
      .selectFrom('manifests')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      digest: row.digest,
      mediaType: row.media_type,
      artifactType: row.artifact_type,
      size: Number(row.size),
      content: Buffer.from(row.content),
      subject: row.subject,
      annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null,
      createdAt: row.created_at,
    };
  }

  async resolveTag(
    registryId: string,
    repository: string,
    tag: string,
  ): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('tags')
      .select('digest')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('name', '=', tag)
      .executeTakeFirst();
    return row?.digest;
  }

  async deleteManifest(
    registryId: string,
    repository: string,
    digest: string,
    softDelete = false,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if (softDelete) await this.keepDeleted(trx, registryId, repository, digest);
      return this.deleteManifestRows(trx, registryId, repository, digest);
    });
  }

  private async deleteManifestRows(
    trx: Transaction<Database>,
    registryId: string,
    repository: string,
    digest: string,
  ): Promise<boolean> {
    const result = await trx
      .deleteFrom('manifests')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) return false;
    await trx
      .deleteFrom('tags')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .execute();
    await trx
      .deleteFrom('manifest_blobs')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('manifest_digest', '=', digest)
      .execute();
    await trx
      .deleteFrom('manifest_children')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('manifest_digest', '=', digest)
      .execute();
    return true;
  }

  /**
   * Copies a manifest about to be deleted, with its blob references and tags, into the
   * soft-deleted tables (a second deletion of the same digest refreshes its time).
   */
  private async keepDeleted(
    trx: Transaction<Database>,
    registryId: string,
    repository: string,
    digest: string,
  ): Promise<void> {
    const manifest = await trx
      .selectFrom('manifests')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (!manifest) return;
    const timestamp = now();
    const children = await trx
      .selectFrom('manifest_children')
      .select('child_digest')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('manifest_digest', '=', digest)
      .execute();
    const { attributes: _attributes, ...row } = manifest;
    await trx
      .insertInto('deleted_manifests')
      .values({
        ...row,
        deleted_at: timestamp,
        children: JSON.stringify(children.map((c) => c.child_digest)),
      })
      .onConflict((oc) =>
        oc.columns(['registry_id', 'repository', 'digest']).doUpdateSet({ deleted_at: timestamp }),
      )
      .execute();
    const blobs = await trx
      .selectFrom('manifest_blobs')
      .select('blob_digest')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('manifest_digest', '=', digest)
      .execute();
    for (const part of chunks(blobs)) {
      await trx
        .insertInto('deleted_manifest_blobs')
        .values(
          part.map((b) => ({
            registry_id: registryId,
            repository,
            manifest_digest: digest,
            blob_digest: b.blob_digest,
          })),
        )
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    const tags = await trx
      .selectFrom('tags')
      .select('name')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .execute();
    for (const tag of tags)
      await this.keepDeletedTag(trx, registryId, repository, tag.name, digest);
  }

  private async keepDeletedTag(
    trx: Transaction<Database>,
    registryId: string,
    repository: string,
    name: string,
    digest: string,
  ): Promise<void> {
    const timestamp = now();
    await trx
      .insertInto('deleted_tags')
      .values({ registry_id: registryId, repository, name, digest, deleted_at: timestamp })
      .onConflict((oc) =>
        oc
          .columns(['registry_id', 'repository', 'name', 'digest'])
          .doUpdateSet({ deleted_at: timestamp }),
      )
      .execute();
  }

  async deleteTag(
    registryId: string,
    repository: string,
    tag: string,
    softDelete = false,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .deleteFrom('tags')
        .where('registry_id', '=', registryId)
        .where('repository', '=', repository)
        .where('name', '=', tag)
        .returning('digest')
        .executeTakeFirst();
      if (!row) return false;
      if (softDelete) await this.keepDeletedTag(trx, registryId, repository, tag, row.digest);
      return true;
    });
  }

  async listTags(registryId: string, repository: string, page: Page = {}): Promise<string[]> {
    let query = this.db
      .selectFrom('tags')
      .select('name')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where((eb) => listed(eb))
      .orderBy('name');
    if (page.last !== undefined) query = query.where('name', '>', page.last);
    if (page.limit !== undefined) query = query.limit(page.limit);
    return (await query.execute()).map((r) => r.name);
  }

  async listTagRecords(registryId: string, repository: string): Promise<TagRecord[]> {
    const rows = await this.db
      .selectFrom('tags')
      .select(['name', 'digest', 'updated_at', 'attributes'])
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .orderBy('name')
      .execute();
    return rows.map(toTagRecord);
  }

  async getTagRecord(
    registryId: string,
    repository: string,
    tag: string,
  ): Promise<TagRecord | undefined> {
    const row = await this.db
      .selectFrom('tags')
      .select(['name', 'digest', 'updated_at', 'attributes'])
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('name', '=', tag)
      .executeTakeFirst();
    return row ? toTagRecord(row) : undefined;
  }

  async getRepositoryInfo(
    registryId: string,
    repository: string,
  ): Promise<RepositoryInfo | undefined> {
    const row = await this.db
      .selectFrom('repositories')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name', '=', repository)
      .executeTakeFirst();
    if (!row) return undefined;
    const scope = (table: 'manifests' | 'tags') =>
      this.db
        .selectFrom(table)
        .where('registry_id', '=', registryId)
        .where('repository', '=', repository);
    const manifests = await scope('manifests')
      .select((eb) => [eb.fn.countAll<number>().as('count'), eb.fn.max('created_at').as('latest')])
      .executeTakeFirst();
    const tags = await scope('tags')
      .select((eb) => [eb.fn.countAll<number>().as('count'), eb.fn.max('updated_at').as('latest')])
      .executeTakeFirst();
    const times = [row.created_at, manifests?.latest, tags?.latest].filter(
      (t): t is string => typeof t === 'string',
    );
    return {
      name: row.name,
      createdAt: row.created_at,
      lastUpdateTime: times.sort().at(-1) ?? row.created_at,
      manifestCount: Number(manifests?.count ?? 0),
      tagCount: Number(tags?.count ?? 0),
      attributes: parseAttributes(row.attributes),
    };
  }

  async listManifestInfos(registryId: string, repository: string): Promise<ManifestInfo[]> {
    const rows = await this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'artifact_type', 'size', 'created_at', 'attributes'])
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .orderBy('created_at')
      .execute();
    const tags = await this.listTagRecords(registryId, repository);
    return rows.map((row) => ({
      digest: row.digest,
      mediaType: row.media_type,
      artifactType: row.artifact_type,
      size: Number(row.size),
      createdAt: row.created_at,
      tags: tags.filter((t) => t.digest === row.digest).map((t) => t.name),
      attributes: parseAttributes(row.attributes),
    }));
  }

  async storageUsed(registryId: string): Promise<number> {
    // A blob shared by repositories is stored once, so it is counted once.
    const blobs = await this.db
      .selectFrom('blobs')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('bytes'))
      .where('digest', 'in', (eb) =>
        eb.selectFrom('repository_blobs').select('digest').where('registry_id', '=', registryId),
      )
      .executeTakeFirstOrThrow();
    const manifests = await this.db
      .selectFrom('manifests')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('bytes'))
      .where('registry_id', '=', registryId)
      .executeTakeFirstOrThrow();
    return Number(blobs.bytes) + Number(manifests.bytes);
  }

  async getAttributes(
    registryId: string,
    repository: string,
    target: AttributeTarget,
  ): Promise<ChangeableAttributes | undefined> {
    const row = await this.attributeQuery(
      this.db,
      registryId,
      repository,
      target,
    ).executeTakeFirst();
    return row ? parseAttributes(row.attributes) : undefined;
  }

  private attributeQuery(
    db: Kysely<Database> | Transaction<Database>,
    registryId: string,
    repository: string,
    target: AttributeTarget,
  ) {
    if (target.kind === 'repository') {
      return db
        .selectFrom('repositories')
        .select('attributes')
        .where('registry_id', '=', registryId)
        .where('name', '=', repository);
    }
    if (target.kind === 'manifest') {
      return db
        .selectFrom('manifests')
        .select('attributes')
        .where('registry_id', '=', registryId)
        .where('repository', '=', repository)
        .where('digest', '=', target.digest);
    }
    return db
      .selectFrom('tags')
      .select('attributes')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('name', '=', target.tag);
  }

  async updateAttributes(
    registryId: string,
    repository: string,
    target: AttributeTarget,
    change: Partial<ChangeableAttributes>,
  ): Promise<ChangeableAttributes | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await this.attributeQuery(trx, registryId, repository, target)
        // Locked like updateRegistry's read: concurrent changes apply one after the other.
        .$if(this.dialect === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (!row) return undefined;
      const next = { ...parseAttributes(row.attributes), ...change };
      const text = serializeAttributes(next);
      if (target.kind === 'repository') {
        await trx
          .updateTable('repositories')
          .set({ attributes: text })
          .where('registry_id', '=', registryId)
          .where('name', '=', repository)
          .execute();
      } else if (target.kind === 'manifest') {
        await trx
          .updateTable('manifests')
          .set({ attributes: text })
          .where('registry_id', '=', registryId)
          .where('repository', '=', repository)
          .where('digest', '=', target.digest)
          .execute();
      } else {
        await trx
          .updateTable('tags')
          .set({ attributes: text })
          .where('registry_id', '=', registryId)
          .where('repository', '=', repository)
          .where('name', '=', target.tag)
          .execute();
      }
      return next;
    });
  }

  async deleteRepository(
    registryId: string,
    repository: string,
    softDelete = false,
  ): Promise<{ manifestsDeleted: string[]; tagsDeleted: string[] } | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const exists = await trx
        .selectFrom('repositories')
        .select('name')
        .where('registry_id', '=', registryId)
        .where('name', '=', repository)
        .executeTakeFirst();
      if (!exists) return undefined;
      const manifests = await trx
        .selectFrom('manifests')
        .select('digest')
        .where('registry_id', '=', registryId)
        .where('repository', '=', repository)
        .execute();
      const tags = await trx
        .selectFrom('tags')
        .select('name')
        .where('registry_id', '=', registryId)
        .where('repository', '=', repository)
        .execute();
      if (softDelete) {
        for (const { digest } of manifests) {
          await this.keepDeleted(trx, registryId, repository, digest);
        }
      }
      for (const table of [
        'tags',
        'manifest_children',
        'manifest_blobs',
        'manifests',
        'repository_blobs',
        'uploads',
      ] as const) {
        await trx
          .deleteFrom(table)
          .where('registry_id', '=', registryId)
          .where('repository', '=', repository)
          .execute();
      }
      await trx
        .deleteFrom('repositories')
        .where('registry_id', '=', registryId)
        .where('name', '=', repository)
        .execute();
      return {
        manifestsDeleted: manifests.map((m) => m.digest),
        tagsDeleted: tags.map((t) => t.name),
      };
    });
  }

  async listReferrers(
    registryId: string,
    repository: string,
    subject: string,
    artifactType?: string,
  ): Promise<ReferrerRecord[]> {
    let query = this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'artifact_type', 'size', 'annotations'])
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('subject', '=', subject)
      .orderBy('created_at')
      .orderBy('digest');
    if (artifactType !== undefined) query = query.where('artifact_type', '=', artifactType);
    const rows = await query.execute();
    return rows.map((r) => ({
      digest: r.digest,
      mediaType: r.media_type,
      artifactType: r.artifact_type,
      size: Number(r.size),
      annotations: r.annotations ? (JSON.parse(r.annotations) as Record<string, string>) : null,
    }));
  }

  // Soft delete

  async listDeletedManifests(
    registryId: string,
    repository: string,
  ): Promise<DeletedManifestInfo[]> {
    const rows = await this.db
      .selectFrom('deleted_manifests')
      .select(['digest', 'media_type', 'artifact_type', 'size', 'created_at', 'deleted_at'])
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .orderBy('deleted_at')
      .orderBy('digest')
      .execute();
    return rows.map((r) => ({
      digest: r.digest,
      mediaType: r.media_type,
      artifactType: r.artifact_type,
      size: Number(r.size),
      createdAt: r.created_at,
      deletedAt: r.deleted_at,
    }));
  }

  async listDeletedTags(registryId: string, repository: string): Promise<DeletedTagRecord[]> {
    const rows = await this.db
      .selectFrom('deleted_tags')
      .select(['name', 'digest', 'deleted_at'])
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .orderBy('deleted_at')
      .orderBy('name')
      .execute();
    return rows.map((r) => ({ name: r.name, digest: r.digest, deletedAt: r.deleted_at }));
  }

  async listDeletedRepositories(registryId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('deleted_manifests')
      .select('deleted_manifests.repository')
      .distinct()
      .where('deleted_manifests.registry_id', '=', registryId)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('repositories')
              .select('repositories.name')
              .whereRef('repositories.registry_id', '=', 'deleted_manifests.registry_id')
              .whereRef('repositories.name', '=', 'deleted_manifests.repository'),
          ),
        ),
      )
      .orderBy('deleted_manifests.repository')
      .execute();
    return rows.map((r) => r.repository);
  }

  async restoreManifest(
    registryId: string,
    repository: string,
    digest: string,
    request: RestoreRequest,
  ): Promise<RestoreOutcome> {
    return this.db.transaction().execute(async (trx) => {
      // Restoring makes blobs reachable again: excluded from a collection in progress.
      await this.collectionLock(trx, 'shared');
      const inRepository = (table: 'manifests' | 'deleted_manifests') =>
        trx
          .selectFrom(table)
          .selectAll()
          .where('registry_id', '=', registryId)
          .where('repository', '=', repository)
          .where('digest', '=', digest)
          .executeTakeFirst();
      const live = await inRepository('manifests');
      const deleted = live ? undefined : await inRepository('deleted_manifests');
      if (!live && !deleted) return 'not-found';

      const current =
        request.tag === undefined
          ? undefined
          : await trx
              .selectFrom('tags')
              .select('digest')
              .where('registry_id', '=', registryId)
              .where('repository', '=', repository)
              .where('name', '=', request.tag)
              .executeTakeFirst();
      if (current && current.digest !== digest) {
        if (!request.force) return 'tag-exists';
        if (request.softDelete) {
          await this.keepDeletedTag(trx, registryId, repository, request.tag!, current.digest);
        }
      }

      if (deleted) {
        const manifestExists = async (wanted: string) =>
          (await trx
            .selectFrom('manifests')
            .select('digest')
            .where('registry_id', '=', registryId)
            .where('repository', '=', repository)
            .where('digest', '=', wanted)
            .executeTakeFirst()) !== undefined;
        if (deleted.subject && !(await manifestExists(deleted.subject))) return 'subject-missing';
        const children = JSON.parse(deleted.children) as string[];
        for (const child of children) {
          if (!(await manifestExists(child))) return 'children-missing';
        }
        const blobs = (
          await trx
            .selectFrom('deleted_manifest_blobs')
            .select('blob_digest')
            .where('registry_id', '=', registryId)
            .where('repository', '=', repository)
            .where('manifest_digest', '=', digest)
            .execute()
        ).map((b) => b.blob_digest);
        const { deleted_at: _deletedAt, children: _children, ...row } = deleted;
        await this.ensureRepository(trx, registryId, repository);
        await trx.insertInto('manifests').values(row).execute();
        const timestamp = now();
        for (const part of chunks(blobs)) {
          // A deleted repository lost its blob links: the restored manifest needs them back.
          await trx
            .insertInto('repository_blobs')
            .values(
              part.map((blob) => ({
                registry_id: registryId,
                repository,
                digest: blob,
                created_at: timestamp,
              })),
            )
            .onConflict((oc) => oc.doNothing())
            .execute();
        }
        await this.recordContents(trx, registryId, repository, digest, { blobs, children });
      }
      await this.forgetDeleted(trx, registryId, repository, digest);

      if (request.tag !== undefined) {
        await trx
          .insertInto('tags')
          .values({
            registry_id: registryId,
            repository,
            name: request.tag,
            digest,
            updated_at: now(),
          })
          .onConflict((oc) =>
            oc
              .columns(['registry_id', 'repository', 'name'])
              .doUpdateSet({ digest, updated_at: now() }),
          )
          .execute();
        await trx
          .deleteFrom('deleted_tags')
          .where('registry_id', '=', registryId)
          .where('repository', '=', repository)
          .where('name', '=', request.tag)
          .where('digest', '=', digest)
          .execute();
      }
      return 'restored';
    });
  }

  /** Drops a soft-deleted manifest's rows (not its tags: they stay restorable on their own). */
  private async forgetDeleted(
    trx: Transaction<Database>,
    registryId: string,
    repository: string,
    digest: string,
  ): Promise<void> {
    await trx
      .deleteFrom('deleted_manifest_blobs')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('manifest_digest', '=', digest)
      .execute();
    await trx
      .deleteFrom('deleted_manifests')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .execute();
  }

  async purgeDeleted(registryId: string, cutoff: string): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const expired = await trx
        .selectFrom('deleted_manifests')
        .select(['repository', 'digest'])
        .where('registry_id', '=', registryId)
        .where('deleted_at', '<', cutoff)
        .execute();
      for (const { repository, digest } of expired) {
        await this.forgetDeleted(trx, registryId, repository, digest);
        // Its tags cannot be restored without it.
        await trx
          .deleteFrom('deleted_tags')
          .where('registry_id', '=', registryId)
          .where('repository', '=', repository)
          .where('digest', '=', digest)
          .execute();
      }
      await trx
        .deleteFrom('deleted_tags')
        .where('registry_id', '=', registryId)
        .where('deleted_at', '<', cutoff)
        .execute();
      return expired.length;
    });
  }

  // Upload sessions

  async createUpload(upload: {
    id: string;
    registryId: string;
    repository: string;
  }): Promise<UploadRecord> {
    const timestamp = now();
    await this.db
      .insertInto('uploads')
      .values({
        id: upload.id,
        registry_id: upload.registryId,
        repository: upload.repository,
        created_at: timestamp,
        updated_at: timestamp,
      })
      .execute();
    return { ...upload, createdAt: timestamp, updatedAt: timestamp };
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const row = await this.db
      .selectFrom('uploads')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row
      ? {
          id: row.id,
          registryId: row.registry_id,
          repository: row.repository,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
          claimedDigest: row.claimed_digest,
        }
      : undefined;
  }

  async touchUpload(id: string): Promise<void> {
    await this.db.updateTable('uploads').set({ updated_at: now() }).where('id', '=', id).execute();
  }

  async deleteUpload(id: string): Promise<void> {
    await this.db.deleteFrom('uploads').where('id', '=', id).execute();
  }

  async listUploads(): Promise<UploadRecord[]> {
    const rows = await this.db.selectFrom('uploads').selectAll().orderBy('created_at').execute();
    return rows.map((row) => ({
      id: row.id,
      registryId: row.registry_id,
      repository: row.repository,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }

  async claimUploadDigest(id: string, digest: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.collectionLock(trx, 'shared');
      await trx
        .updateTable('uploads')
        .set({ claimed_digest: digest, updated_at: now() })
        .where('id', '=', id)
        .execute();
    });
  }

  // Garbage collection

  /** Blobs that are garbage as of `cutoff` (see MetadataStore.listGarbageBlobs). */
  private garbageBlobs(db: Kysely<Database> | Transaction<Database>, cutoff: string) {
    return db
      .selectFrom('blobs')
      .select('blobs.digest')
      .where('blobs.created_at', '<', cutoff)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('manifest_blobs')
              .select('manifest_blobs.blob_digest')
              .whereRef('manifest_blobs.blob_digest', '=', 'blobs.digest'),
          ),
        ),
      )
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('repository_blobs')
              .select('repository_blobs.digest')
              .whereRef('repository_blobs.digest', '=', 'blobs.digest')
              .where('repository_blobs.created_at', '>=', cutoff),
          ),
        ),
      )
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('uploads')
              .select('uploads.id')
              .whereRef('uploads.claimed_digest', '=', 'blobs.digest'),
          ),
        ),
      )
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('deleted_manifest_blobs')
              .select('deleted_manifest_blobs.blob_digest')
              .whereRef('deleted_manifest_blobs.blob_digest', '=', 'blobs.digest'),
          ),
        ),
      );
  }

  async listGarbageBlobs(cutoff: string, limit: number): Promise<string[]> {
    const rows = await this.garbageBlobs(this.db, cutoff)
      .orderBy('blobs.digest')
      .limit(limit)
      .execute();
    return rows.map((row) => row.digest);
  }

  async collectBlob(
    digest: string,
    cutoff: string,
    deleteBytes: () => Promise<void>,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await this.collectionLock(trx, 'exclusive');
      const still = await this.garbageBlobs(trx, cutoff)
        .where('blobs.digest', '=', digest)
        .executeTakeFirst();
      if (!still) return false;
      // Bytes first: if deleting them fails, the rows stay and the next run tries again.
      await deleteBytes();
      await trx.deleteFrom('repository_blobs').where('digest', '=', digest).execute();
      await trx.deleteFrom('blobs').where('digest', '=', digest).execute();
      return true;
    });
  }

  async collectOrphan(digest: string, deleteBytes: () => Promise<void>): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await this.collectionLock(trx, 'exclusive');
      const known = await trx
        .selectFrom('blobs')
        .select('digest')
        .where('digest', '=', digest)
        .executeTakeFirst();
      const claimed = await trx
        .selectFrom('uploads')
        .select('id')
        .where('claimed_digest', '=', digest)
        .executeTakeFirst();
      if (known || claimed) return false;
      await deleteBytes();
      return true;
    });
  }

  private expiredUntagged(
    db: Kysely<Database> | Transaction<Database>,
    registryId: string,
    cutoff: string,
  ) {
    const unlocked = (column: 'manifests.attributes' | 'repositories.attributes') =>
      sql<boolean>`(${sql.ref(column)} is null or (${sql.ref(column)} not like '%"deleteEnabled":false%' and ${sql.ref(column)} not like '%"writeEnabled":false%'))`;
    return db
      .selectFrom('manifests')
      .select(['manifests.repository', 'manifests.digest'])
      .where('manifests.registry_id', '=', registryId)
      .where('manifests.created_at', '<', cutoff)
      .where('manifests.subject', 'is', null)
      .where(unlocked('manifests.attributes'))
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('tags')
              .select('tags.name')
              .whereRef('tags.registry_id', '=', 'manifests.registry_id')
              .whereRef('tags.repository', '=', 'manifests.repository')
              .whereRef('tags.digest', '=', 'manifests.digest'),
          ),
        ),
      )
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('manifest_children')
              .select('manifest_children.child_digest')
              .whereRef('manifest_children.registry_id', '=', 'manifests.registry_id')
              .whereRef('manifest_children.repository', '=', 'manifests.repository')
              .whereRef('manifest_children.child_digest', '=', 'manifests.digest'),
          ),
        ),
      )
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('repositories')
              .select('repositories.name')
              .whereRef('repositories.registry_id', '=', 'manifests.registry_id')
              .whereRef('repositories.name', '=', 'manifests.repository')
              .where(sql<boolean>`not ${unlocked('repositories.attributes')}`),
          ),
        ),
      );
  }

  async listExpiredUntaggedManifests(
    registryId: string,
    cutoff: string,
  ): Promise<Array<{ repository: string; digest: string }>> {
    const rows = await this.expiredUntagged(this.db, registryId, cutoff)
      .orderBy('manifests.repository')
      .orderBy('manifests.digest')
      .execute();
    return rows.map((row) => ({ repository: row.repository, digest: row.digest }));
  }

  async deleteExpiredUntaggedManifest(
    registryId: string,
    repository: string,
    digest: string,
    cutoff: string,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await this.collectionLock(trx, 'exclusive');
      const still = await this.expiredUntagged(trx, registryId, cutoff)
        .where('manifests.repository', '=', repository)
        .where('manifests.digest', '=', digest)
        .executeTakeFirst();
      if (!still) return false;
      return this.deleteManifestRows(trx, registryId, repository, digest);
    });
  }

  /** The blobs and child manifests a stored manifest references (pushed or restored). */
  private async recordContents(
    trx: Transaction<Database>,
    registryId: string,
    repository: string,
    manifestDigest: string,
    contents: { blobs: string[]; children: string[] },
  ): Promise<void> {
    const row = { registry_id: registryId, repository, manifest_digest: manifestDigest };
    for (const part of chunks(contents.blobs)) {
      await trx
        .insertInto('manifest_blobs')
        .values(part.map((blob) => ({ ...row, blob_digest: blob })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    for (const part of chunks(contents.children)) {
      await trx
        .insertInto('manifest_children')
        .values(part.map((child) => ({ ...row, child_digest: child })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/** Stored with a fixed key order, so `"listEnabled":false` can be matched in SQL. */
function serializeAttributes(attributes: ChangeableAttributes): string | null {
  const { deleteEnabled, writeEnabled, readEnabled, listEnabled } = attributes;
  if (deleteEnabled && writeEnabled && readEnabled && listEnabled) return null;
  return JSON.stringify({ deleteEnabled, writeEnabled, readEnabled, listEnabled });
}

function parseAttributes(text: string | null): ChangeableAttributes {
  return text
    ? { ...ALL_ENABLED, ...(JSON.parse(text) as Partial<ChangeableAttributes>) }
    : { ...ALL_ENABLED };
}

/** Rows that listings show: not marked `listEnabled: false`. */
function listed(
  eb: ExpressionBuilder<Database, 'repositories'> | ExpressionBuilder<Database, 'tags'>,
) {
  const builder = eb as ExpressionBuilder<Database, 'tags'>;
  return builder.or([
    builder('attributes', 'is', null),
    builder('attributes', 'not like', '%"listEnabled":false%'),
  ]);
}

function toTagRecord(row: {
  name: string;
  digest: string;
  updated_at: string;
  attributes: string | null;
}): TagRecord {
  return {
    name: row.name,
    digest: row.digest,
    updatedAt: row.updated_at,
    attributes: parseAttributes(row.attributes),
  };
}

function parseJson<T>(text: string | null): T | null {
  return text ? (JSON.parse(text) as T) : null;
}

function armColumns(arm: RegistryArmEnvelope | undefined) {
  if (!arm) return {};
  return {
    resource_id: arm.resourceId,
    subscription_id: arm.subscriptionId,
    resource_group: arm.resourceGroup,
    location: arm.location,
    sku: JSON.stringify(arm.sku),
    tags: JSON.stringify(arm.tags),
    identity: arm.identity ? JSON.stringify(arm.identity) : null,
    system_data: arm.systemData ? JSON.stringify(arm.systemData) : null,
  };
}
