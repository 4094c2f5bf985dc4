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
 * ```
 */
export interface RegistriesTable {
  id: string;
  name: string;
  login_server: string;
  properties: string;
  created_at: string;
  updated_at: string;
}

export interface RegistryHostsTable {
  host: string;
  registry_id: string;
}

export interface RepositoriesTable {
  registry_id: string;
  name: string;
  created_at: string;
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
}

export interface UploadsTable {
  id: string;
  registry_id: string;
  repository: string;
  created_at: string;
  updated_at: string;
}

export interface Database {
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
}
