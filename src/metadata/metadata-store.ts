/**
 * @module metadata/metadata-store
 * The metadata contract: registries, repositories, manifests, tags, blob links, referrers and
 * upload sessions. One Kysely implementation serves SQLite and PostgreSQL; both pass
 * `metadata-store.suite.ts`.
 *
 * Every method that changes more than one row does so in one transaction, so a crash leaves
 * either the old state or the new one, never a manifest without its tag links or references.
 */

/** The ARM envelope of a registry resource (everything but `properties`). */
export interface RegistryArmEnvelope {
  resourceId: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  sku: { name: string; tier?: string };
  tags: Record<string, string>;
  identity: Record<string, unknown> | null;
  systemData: Record<string, unknown> | null;
}

export interface RegistryRecord {
  id: string;
  name: string;
  loginServer: string;
  /** Host headers (besides the login server) that reach this registry, e.g. `127.0.0.1:5000`. */
  aliases: string[];
  /** The ARM `properties` object (network rules, admin user, policies, ...), stored as JSON. */
  properties: Record<string, unknown>;
  /** Null only for registries made before the management API existed. */
  arm: RegistryArmEnvelope | null;
  createdAt: string;
  updatedAt: string;
}

export interface NewRegistry {
  name: string;
  loginServer: string;
  aliases?: string[];
  properties?: Record<string, unknown>;
  arm?: RegistryArmEnvelope;
}

export interface RegistryUpdate {
  properties?: Record<string, unknown>;
  arm?: Partial<Omit<RegistryArmEnvelope, 'resourceId' | 'subscriptionId' | 'resourceGroup'>>;
}

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  content: Buffer;
  subject: string | null;
  annotations: Record<string, string> | null;
  createdAt: string;
}

export interface NewManifest {
  digest: string;
  mediaType: string;
  artifactType?: string;
  content: Buffer;
  subject?: string;
  annotations?: Record<string, string>;
  /** Blobs it references; all must be linked to the repository (checked in the transaction). */
  blobs: string[];
  /** Manifests it references (an index); all must exist in the repository. */
  children: string[];
  /** Tag to point at it, when pushed by tag. */
  tag?: string;
}

/** What a manifest push found missing; nothing was written. */
export interface MissingReferences {
  missingBlobs: string[];
  missingManifests: string[];
}

export interface ReferrerRecord {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  annotations: Record<string, string> | null;
}

export interface UploadRecord {
  id: string;
  registryId: string;
  repository: string;
  createdAt: string;
  updatedAt: string;
  /** The digest the upload is being completed as, once claimed (see claimUploadDigest). */
  claimedDigest?: string | null;
}

export interface Page {
  /** At most this many results. */
  limit?: number;
  /** Results strictly after this value, in lexical order. */
  last?: string;
}

/** ACR's changeableAttributes: the locks on a repository, manifest or tag. */
export interface ChangeableAttributes {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

export const ALL_ENABLED: ChangeableAttributes = {
  deleteEnabled: true,
  writeEnabled: true,
  readEnabled: true,
  listEnabled: true,
};

export type AttributeTarget =
  { kind: 'repository' } | { kind: 'manifest'; digest: string } | { kind: 'tag'; tag: string };

export interface TagRecord {
  name: string;
  digest: string;
  updatedAt: string;
  attributes: ChangeableAttributes;
}

export interface RepositoryInfo {
  name: string;
  createdAt: string;
  lastUpdateTime: string;
  manifestCount: number;
  tagCount: number;
  attributes: ChangeableAttributes;
}

export interface ManifestInfo {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  createdAt: string;
  tags: string[];
  attributes: ChangeableAttributes;
}

/** A soft-deleted manifest (softDeletePolicy), restorable until it expires. */
export interface DeletedManifestInfo {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  createdAt: string;
  deletedAt: string;
}

/** A soft-deleted tag: which manifest it named, and when it went. */
export interface DeletedTagRecord {
  name: string;
  digest: string;
  deletedAt: string;
}

export type RestoreOutcome =
  | 'restored'
  /** Neither a soft-deleted nor a live manifest with that digest. */
  | 'not-found'
  /** The tag names another manifest now (restore with `force` to move it). */
  | 'tag-exists'
  /** A referrer whose subject is gone: restore the subject first (ACR's rule). */
  | 'subject-missing'
  /** An index whose child manifests are gone: restore them first. */
  | 'children-missing';

export interface RestoreRequest {
  /** The tag to point at the restored manifest (none: restored untagged). */
  tag?: string;
  /** Move the tag even if it names another manifest now. */
  force?: boolean;
  /** Whether the tag a forced restore moves is itself soft-deleted (the policy is on). */
  softDelete?: boolean;
}

export interface MetadataStore {
  // Registries
  createRegistry(registry: NewRegistry): Promise<RegistryRecord>;
  getRegistryByName(name: string): Promise<RegistryRecord | undefined>;
  getRegistryById(id: string): Promise<RegistryRecord | undefined>;
  /** Host header (lower-case, with port when not default) -> registry, via login server or alias. */
  getRegistryByHost(host: string): Promise<RegistryRecord | undefined>;
  listRegistries(): Promise<RegistryRecord[]>;
  /**
   * Applies `change(current)` to a registry in one transaction (no lost update between two
   * concurrent PATCHes); `change` returns the new properties and envelope fields.
   */
  updateRegistry(
    id: string,
    change: (current: RegistryRecord) => RegistryUpdate,
  ): Promise<RegistryRecord | undefined>;
  /** Deletes a registry and everything it holds (repositories, manifests, tags, uploads). */
  deleteRegistry(id: string): Promise<boolean>;
  /** Adds a host alias; false when another registry already answers on that host. */
  addRegistryHost(registryId: string, host: string): Promise<boolean>;

  // Repositories
  repositoryExists(registryId: string, repository: string): Promise<boolean>;
  listRepositories(registryId: string, page?: Page): Promise<string[]>;

  // Blobs
  /** Records content the blob store holds (idempotent). */
  recordBlob(digest: string, size: number): Promise<void>;
  getBlobSize(digest: string): Promise<number | undefined>;
  /**
   * After an upload is published: records the blob, links it into the repository and ends the
   * upload session, in one transaction (one commit instead of three).
   */
  publishUpload(
    registryId: string,
    repository: string,
    digest: string,
    size: number,
    uploadId: string,
  ): Promise<void>;
  /** Makes a recorded blob servable from a repository, creating the repository if needed. */
  linkBlob(registryId: string, repository: string, digest: string): Promise<void>;
  /** Size of a blob linked to the repository, or undefined. */
  getLinkedBlob(
    registryId: string,
    repository: string,
    digest: string,
  ): Promise<number | undefined>;
  /**
   * Unlinks a blob from a repository unless a manifest of that repository references it (then
   * the referencing manifest's digest, and nothing changes): a tagged image never loses a layer.
   */
  unlinkBlob(
    registryId: string,
    repository: string,
    digest: string,
  ): Promise<'unlinked' | 'unknown' | { referencedBy: string }>;
  /** Another repository of the registry that holds the blob (automatic cross-repository mount). */
  findRepositoryWithBlob(registryId: string, digest: string): Promise<string | undefined>;

  // Manifests and tags
  /**
   * Stores a manifest (and its tag) atomically, after checking inside the same transaction that
   * everything it references exists. Returns the missing references instead when it cannot.
   */
  putManifest(
    registryId: string,
    repository: string,
    manifest: NewManifest,
  ): Promise<MissingReferences | undefined>;
  getManifest(
    registryId: string,
    repository: string,
    digest: string,
  ): Promise<ManifestRecord | undefined>;
  resolveTag(registryId: string, repository: string, tag: string): Promise<string | undefined>;
  /**
   * Deletes a manifest and every tag pointing at it. With `softDelete` (the registry's
   * softDeletePolicy is on) both are kept aside, restorable, in the same transaction.
   */
  deleteManifest(
    registryId: string,
    repository: string,
    digest: string,
    softDelete?: boolean,
  ): Promise<boolean>;
  deleteTag(
    registryId: string,
    repository: string,
    tag: string,
    softDelete?: boolean,
  ): Promise<boolean>;
  listTags(registryId: string, repository: string, page?: Page): Promise<string[]>;
  /** Every tag with its digest and locks (including unlisted ones). */
  listTagRecords(registryId: string, repository: string): Promise<TagRecord[]>;
  getTagRecord(registryId: string, repository: string, tag: string): Promise<TagRecord | undefined>;

  // Repository metadata and locks (ACR's /acr/v1 API)
  getRepositoryInfo(registryId: string, repository: string): Promise<RepositoryInfo | undefined>;
  listManifestInfos(registryId: string, repository: string): Promise<ManifestInfo[]>;
  /** Bytes the registry holds: each distinct linked blob once, plus every manifest. */
  storageUsed(registryId: string): Promise<number>;
  getAttributes(
    registryId: string,
    repository: string,
    target: AttributeTarget,
  ): Promise<ChangeableAttributes | undefined>;
  /** Changes some locks; resolves the result, or undefined when the target does not exist. */
  updateAttributes(
    registryId: string,
    repository: string,
    target: AttributeTarget,
    change: Partial<ChangeableAttributes>,
  ): Promise<ChangeableAttributes | undefined>;
  /** Deletes a repository with its manifests, tags and blob links (soft-deleting them on request). */
  deleteRepository(
    registryId: string,
    repository: string,
    softDelete?: boolean,
  ): Promise<{ manifestsDeleted: string[]; tagsDeleted: string[] } | undefined>;
  listReferrers(
    registryId: string,
    repository: string,
    subject: string,
    artifactType?: string,
  ): Promise<ReferrerRecord[]>;

  // Soft delete (softDeletePolicy)
  /** Soft-deleted manifests of a repository, oldest deletion first. */
  listDeletedManifests(registryId: string, repository: string): Promise<DeletedManifestInfo[]>;
  /** Soft-deleted tags of a repository, oldest deletion first. */
  listDeletedTags(registryId: string, repository: string): Promise<DeletedTagRecord[]>;
  /** Repositories that were deleted and still hold soft-deleted manifests. */
  listDeletedRepositories(registryId: string): Promise<string[]>;
  /**
   * Brings a soft-deleted manifest back (its blob links too), optionally under a tag, in one
   * transaction; with a live manifest of that digest only the tag is restored.
   */
  restoreManifest(
    registryId: string,
    repository: string,
    digest: string,
    request: RestoreRequest,
  ): Promise<RestoreOutcome>;
  /**
   * Forgets the registry's soft-deleted manifests and tags deleted before `cutoff`; their blobs
   * become garbage for the next sweep. Resolves how many manifests went.
   */
  purgeDeleted(registryId: string, cutoff: string): Promise<number>;

  // Upload sessions
  createUpload(upload: {
    id: string;
    registryId: string;
    repository: string;
  }): Promise<UploadRecord>;
  getUpload(id: string): Promise<UploadRecord | undefined>;
  touchUpload(id: string): Promise<void>;
  deleteUpload(id: string): Promise<void>;
  listUploads(): Promise<UploadRecord[]>;
  /**
   * Notes the digest an upload is about to publish (before the blob store is asked to), so that
   * garbage collection keeps that content until `publishUpload` or `deleteUpload` ends the
   * session: the store's "already have it" shortcut can then never meet bytes being deleted.
   * Touches the session too (it replaces touchUpload on a completing request's last chunk).
   */
  claimUploadDigest(id: string, digest: string): Promise<void>;

  // Garbage collection. Every step re-checks its target inside a transaction that excludes
  // manifest pushes, blob publishes and mounts (on PostgreSQL an advisory lock those take
  // shared and collection takes exclusive; SQLite runs one transaction at a time).
  /**
   * Up to `limit` blobs no manifest references, none of whose rows (the blob, its links) is
   * newer than `cutoff`, and that no upload has claimed.
   */
  listGarbageBlobs(cutoff: string, limit: number): Promise<string[]>;
  /**
   * Collects one blob if it is still garbage: runs `deleteBytes` (the blob store), then forgets
   * the blob and its links. Resolves whether it collected.
   */
  collectBlob(digest: string, cutoff: string, deleteBytes: () => Promise<void>): Promise<boolean>;
  /**
   * Bytes in the blob store with no blob row (a crash between the stores): deleted through
   * `deleteBytes` unless a row or an upload claim appeared. Resolves whether it deleted.
   */
  collectOrphan(digest: string, deleteBytes: () => Promise<void>): Promise<boolean>;
  /**
   * Untagged manifests of the registry created before `cutoff`, which no index in their
   * repository lists, that are not referrers (no subject) and not locked against delete.
   */
  listExpiredUntaggedManifests(
    registryId: string,
    cutoff: string,
  ): Promise<Array<{ repository: string; digest: string }>>;
  /** Deletes one such manifest if it still qualifies (a tag may have arrived meanwhile). */
  deleteExpiredUntaggedManifest(
    registryId: string,
    repository: string,
    digest: string,
    cutoff: string,
  ): Promise<boolean>;

  /**
   * Whether a commit is not yet known to be on disk, and the wait until every commit made before
   * the call is (SQLite syncs its log in groups, see wal-durability; PostgreSQL's commits are
   * durable as they return). A server awaits it before acknowledging anything.
   */
  hasUnsyncedCommits(): boolean;
  syncCommits(): Promise<void>;
  close(): Promise<void>;
}
