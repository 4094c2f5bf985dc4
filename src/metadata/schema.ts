/**
 * @module metadata/schema
 * Table types for Kysely. One schema for SQLite and PostgreSQL: text ids, ISO-8601 text times,
 * manifest bytes as BLOB/bytea, JSON as text.
 *
 * ```
 * registries          one row per registry (name, login server, properties JSON)
 * registry_hosts      Host header -> registry (login server and aliases)
 * repositories        (registry, name)
 * blobs               digest -> size: content known to the blob store
 * repository_blobs    which blobs a repository may serve (pushed or mounted into it)
 * manifests           (registry, repository, digest) -> bytes, media type, subject, artifactType
 * manifest_blobs      blobs a manifest references (config, layers)
 * manifest_children   manifests an index references
 * tags                (registry, repository, tag) -> manifest digest
 * uploads             upload sessions (bytes live in the blob store under the same id)
 * deleted_manifests   soft-deleted manifests (softDeletePolicy), restorable until they expire
 * deleted_manifest_blobs  the blobs those reference (garbage collection keeps them)
 * deleted_tags        soft-deleted tags: (registry, repository, tag, digest) -> when
 *
 * tenants, subscriptions          the ARM/Entra hierarchy
 * principals, principal_secrets   service principals and managed identities (secrets: salted hashes)
 * resources                       every ARM resource but registries (identities, networks, ...)
 * role_assignments                who holds which role at which scope (+ ABAC condition)
 * registry_credentials            admin user passwords (hash to verify, sealed copy to list)
 * access_log                      every access decision with its reason (audit)
 * access_generation               one counter, moved by trigger on every change to principals,
 *                                 secrets, resources, role assignments or admin credentials, and
 *                                 on every registry created or deleted
 *
 * vulnerability_database          the imported OSV snapshot's version (one row)
 * vulnerability_advisories        its OSV records (JSON)
 * vulnerability_packages          (ecosystem, package name) -> advisory, for matching
 * scan_results                    the latest scan of each manifest digest in a registry
 * run_logs                        task run logs, in chunks
 * work_leases                     which process runs a piece of work (a task run), until when
 * ```
 * Registries are ARM resources too; their envelope (resource id, sku, tags, identity, ...) lives
 * on the `registries` row so the data plane reads a registry's settings in one query.
 */
import type { Generated } from 'kysely';

export interface RegistriesTable {
  id: string;
  name: string;
  login_server: string;
  properties: string;
  created_at: string;
  updated_at: string;
  resource_id: string | null;
  subscription_id: string | null;
  resource_group: string | null;
  location: string | null;
  sku: string | null;
  tags: string | null;
  identity: string | null;
  system_data: string | null;
}

export interface TenantsTable {
  id: string;
  display_name: string;
  created_at: string;
}

export interface SubscriptionsTable {
  id: string;
  tenant_id: string;
  display_name: string;
  state: string;
  created_at: string;
}

export interface PrincipalsTable {
  object_id: string;
  tenant_id: string;
  app_id: string;
  kind: string;
  display_name: string;
  resource_id: string | null;
  created_at: string;
}

export interface PrincipalSecretsTable {
  id: string;
  principal_id: string;
  hash: string;
  hint: string;
  created_at: string;
  expires_at: string;
}

export interface ResourcesTable {
  id_lower: string;
  id: string;
  type_lower: string;
  type: string;
  subscription_id: string;
  resource_group_lower: string | null;
  name: string;
  location: string | null;
  tags: string | null;
  sku: string | null;
  identity: string | null;
  properties: string;
  system_data: string | null;
  created_at: string;
  updated_at: string;
  /** Moves on every write (compare-and-set, migration 0011). */
  version: Generated<number>;
}

export interface RoleAssignmentsTable {
  name: string;
  scope: string;
  scope_lower: string;
  role_definition_id: string;
  principal_id: string;
  principal_type: string | null;
  condition: string | null;
  condition_version: string | null;
  description: string | null;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface RegistryCredentialsTable {
  registry_id: string;
  name: string;
  hash: string;
  sealed: string;
  created_at: string;
}

export interface RegistryHostsTable {
  host: string;
  registry_id: string;
}

export interface RepositoriesTable {
  registry_id: string;
  name: string;
  created_at: string;
  attributes: string | null;
}

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: string;
}

export interface RepositoryBlobsTable {
  registry_id: string;
  repository: string;
  digest: string;
  created_at: string;
}

export interface ManifestsTable {
  registry_id: string;
  repository: string;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: number;
  content: Buffer;
  subject: string | null;
  annotations: string | null;
  created_at: string;
  attributes: string | null;
}

export interface ManifestBlobsTable {
  registry_id: string;
  repository: string;
  manifest_digest: string;
  blob_digest: string;
}

export interface ManifestChildrenTable {
  registry_id: string;
  repository: string;
  manifest_digest: string;
  child_digest: string;
}

export interface TagsTable {
  registry_id: string;
  repository: string;
  name: string;
  digest: string;
  updated_at: string;
  attributes: string | null;
}

/** A manifest row as it was when soft-deleted, plus when and what it listed (an index). */
export interface DeletedManifestsTable {
  registry_id: string;
  repository: string;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: number;
  content: Buffer;
  subject: string | null;
  annotations: string | null;
  created_at: string;
  deleted_at: string;
  /** JSON array of the child manifest digests (an index). */
  children: string;
}

export interface DeletedManifestBlobsTable {
  registry_id: string;
  repository: string;
  manifest_digest: string;
  blob_digest: string;
}

export interface DeletedTagsTable {
  registry_id: string;
  repository: string;
  name: string;
  digest: string;
  deleted_at: string;
}

export interface UploadsTable {
  id: string;
  registry_id: string;
  repository: string;
  created_at: string;
  updated_at: string;
  /** The digest the upload is being published as (garbage collection keeps that content). */
  claimed_digest: string | null;
}

export interface AccessLogTable {
  id: string;
  time: string;
  registry: string;
  result: string;
  principal: string | null;
  /** The whole audit record as JSON. */
  record: string;
}

export interface VulnerabilityDatabaseTable {
  id: string;
  version: string;
  content_hash: string;
  imported_at: string;
  advisory_count: number;
  source: string;
}

export interface VulnerabilityAdvisoriesTable {
  id: string;
  modified: string;
  record: string;
}

export interface VulnerabilityPackagesTable {
  ecosystem: string;
  name: string;
  advisory_id: string;
}

export interface ScanResultsTable {
  registry_id: string;
  digest: string;
  repository: string;
  status: string;
  scanned_at: string;
  database_version: string | null;
  /** The whole scan result as JSON. */
  result: string;
}

export interface RunLogsTable {
  /** The run's resource id, lower case. */
  run_id: string;
  sequence: number;
  content: string;
}

export interface WorkLeasesTable {
  /** The leased resource's id, lower case. */
  resource_id: string;
  /** The process holding it: `<instance name>/<incarnation>`. */
  owner: string;
  /** ISO-8601; past it, the holder counts as gone. */
  expires_at: string;
}

export interface AccessGenerationTable {
  id: number;
  value: number | string | bigint;
}

export interface Database {
  access_log: AccessLogTable;
  access_generation: AccessGenerationTable;
  vulnerability_database: VulnerabilityDatabaseTable;
  vulnerability_advisories: VulnerabilityAdvisoriesTable;
  vulnerability_packages: VulnerabilityPackagesTable;
  scan_results: ScanResultsTable;
  run_logs: RunLogsTable;
  work_leases: WorkLeasesTable;
  registries: RegistriesTable;
  registry_hosts: RegistryHostsTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_blobs: ManifestBlobsTable;
  manifest_children: ManifestChildrenTable;
  tags: TagsTable;
  uploads: UploadsTable;
  deleted_manifests: DeletedManifestsTable;
  deleted_manifest_blobs: DeletedManifestBlobsTable;
  deleted_tags: DeletedTagsTable;
  tenants: TenantsTable;
  subscriptions: SubscriptionsTable;
  principals: PrincipalsTable;
  principal_secrets: PrincipalSecretsTable;
  resources: ResourcesTable;
  role_assignments: RoleAssignmentsTable;
  registry_credentials: RegistryCredentialsTable;
}
