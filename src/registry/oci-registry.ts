/**
 * @module registry/oci-registry
 * OCI registry semantics over the two stores: what a push, pull, mount or delete means, with
 * every rule of the Distribution Spec that is not HTTP framing. HTTP handlers translate requests
 * into these calls; nothing here knows about Fastify.
 */
import { PushEvents } from './push-events.js';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { digestOf, looksLikeDigest, parseDigest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import { parseManifest } from '../core/manifest.js';
import { MediaType } from '../core/media-types.js';
import { Locks } from './locks.js';
import { parseReference, type Reference } from '../core/reference.js';
import type {
  ManifestRecord,
  MetadataStore,
  RegistryRecord,
  UploadRecord,
} from '../metadata/index.js';
import type { BlobSender, BlobStore, ByteRange } from '../storage/index.js';
import { softDeletePolicy } from './soft-delete.js';

/** How often an upload session in use is marked as active (expiry counts in hours). */
const TOUCH_EVERY_MS = 60_000;

export interface RegistryLimits {
  /** Largest manifest accepted, in bytes (Distribution's default: 4 MiB). */
  maxManifestBytes: number;
}

export const DEFAULT_LIMITS: RegistryLimits = { maxManifestBytes: 4 * 1024 * 1024 };

export interface BlobHandle {
  digest: string;
  size: number;
}

export interface StoredManifest {
  digest: string;
  subject?: string;
}

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof MediaType.OciIndex;
  manifests: Array<{
    mediaType: string;
    digest: string;
    size: number;
    artifactType?: string;
    annotations?: Record<string, string>;
  }>;
}

export class OciRegistry {
  private readonly locks: Locks;
  /** Told after every stored manifest (see push-events.ts). */
  readonly pushes = new PushEvents();

  constructor(
    readonly metadata: MetadataStore,
    readonly blobs: BlobStore,
    readonly limits: RegistryLimits = DEFAULT_LIMITS,
  ) {
    this.locks = new Locks(metadata);
  }

  // Blobs

  /** The blob as the repository serves it; BLOB_UNKNOWN when it is not linked there. */
  async statBlob(
    registry: RegistryRecord,
    repository: string,
    digest: string,
  ): Promise<BlobHandle> {
    parseDigest(digest);
    const size = await this.metadata.getLinkedBlob(registry.id, repository, digest);
    if (size === undefined) {
      throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
    }
    await this.locks.check(registry, repository, 'read');
    return { digest, size };
  }

  async openBlob(digest: string, range?: ByteRange): Promise<Readable> {
    return this.blobs.read(digest, range);
  }

  /** The store's fast path for serving a blob, when it has one (see BlobStore.openSender). */
  async openBlobSender(digest: string, range?: ByteRange): Promise<BlobSender | undefined> {
    return this.blobs.openSender?.(digest, range);
  }

  /**
   * Removes the blob from the repository. The bytes stay in the store until garbage collection
   * finds no repository linking them, so other repositories are unaffected. A blob that a
   * manifest of the repository references is refused (405, the status the OCI spec gives a
   * blob delete the registry will not do): unlinking it would leave that image unpullable.
   */
  async deleteBlob(registry: RegistryRecord, repository: string, digest: string): Promise<void> {
    parseDigest(digest);
    await this.locks.check(registry, repository, 'delete');
    const result = await this.metadata.unlinkBlob(registry.id, repository, digest);
    if (result === 'unknown') {
      throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
    }
    if (result !== 'unlinked') {
      throw new RegistryError(
        'UNSUPPORTED',
        `the blob is referenced by manifest ${result.referencedBy} in repository '${repository}'; delete the manifest first`,
        { status: 405, detail: { digest, manifest: result.referencedBy } },
      );
    }
  }

  /**
   * Links a blob another repository of the same registry holds. With no `from`, any repository
   * will do (automatic cross-mount). Resolves false when the blob is not there to mount.
   * `canRead` lets the access layer refuse sources the caller may not pull from.
   */
  async mountBlob(
    registry: RegistryRecord,
    repository: string,
    digest: string,
    from: string | undefined,
    canRead: (repository: string) => boolean | Promise<boolean> = () => true,
  ): Promise<BlobHandle | undefined> {
    parseDigest(digest);
    await this.locks.check(registry, repository, 'write');
    const source = from ?? (await this.metadata.findRepositoryWithBlob(registry.id, digest));
    if (source === undefined || !(await canRead(source))) return undefined;
    const size = await this.metadata.getLinkedBlob(registry.id, source, digest);
    if (size === undefined || !(await this.blobs.stat(digest))) return undefined;
    await this.metadata.linkBlob(registry.id, repository, digest);
    // Garbage collection may have taken the blob since the checks above: then the client
    // uploads it instead. After the link it is safe (a fresh link is within the grace period).
    if ((await this.metadata.getLinkedBlob(registry.id, repository, digest)) === undefined) {
      return undefined;
    }
    return { digest, size };
  }

  // Uploads

  async startUpload(registry: RegistryRecord, repository: string): Promise<string> {
    await this.locks.check(registry, repository, 'write');
    const id = randomUUID();
    await this.blobs.createUpload(id);
    await this.metadata.createUpload({ id, registryId: registry.id, repository });
    return id;
  }

  /** The upload's size so far; BLOB_UPLOAD_UNKNOWN unless it belongs to this repository. */
  async uploadStatus(registry: RegistryRecord, repository: string, id: string): Promise<number> {
    return (await this.uploadWithSize(registry, repository, id)).size;
  }

  /** The upload session (BLOB_UPLOAD_UNKNOWN unless it is this repository's) and its bytes so far. */
  private async uploadWithSize(
    registry: RegistryRecord,
    repository: string,
    id: string,
  ): Promise<{ upload: UploadRecord; size: number }> {
    const upload = await this.requireUpload(registry, repository, id);
    const size = await this.blobs.uploadSize(id);
    if (size === undefined) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return { upload, size };
  }

  /**
   * Appends a chunk. `start` is where the client says it begins (Content-Range); without one
   * the chunk is streamed onto the end. `completingAs`: the request completes the upload as
   * this digest right after (monolithic POST, PUT with a body); the session is then claimed
   * for it in the same write that would have touched it.
   */
  async appendUpload(
    registry: RegistryRecord,
    repository: string,
    id: string,
    data: Readable,
    start?: number,
    completingAs?: string,
  ): Promise<number> {
    const { upload, size: current } = await this.uploadWithSize(registry, repository, id);
    const size = await this.blobs.appendUpload(id, data, start ?? current);
    if (completingAs !== undefined && looksLikeDigest(completingAs)) {
      await this.metadata.claimUploadDigest(id, completingAs);
    } else if (Date.now() - Date.parse(upload.updatedAt) >= TOUCH_EVERY_MS) {
      // The touch only feeds expiry, which counts in hours: once a minute is plenty, and it
      // saves a committed write per chunk.
      await this.metadata.touchUpload(id);
    }
    return size;
  }

  /** Verifies and publishes an upload, then links the blob into the repository. */
  async completeUpload(
    registry: RegistryRecord,
    repository: string,
    id: string,
    digestValue: string,
  ): Promise<BlobHandle> {
    const upload = await this.requireUpload(registry, repository, id);
    const digest = parseDigest(digestValue);
    // Claimed before the blob store may answer "already published": collection then keeps
    // those bytes until publishUpload has recorded them.
    if (upload.claimedDigest !== digest.value) {
      await this.metadata.claimUploadDigest(id, digest.value);
    }
    const info = await this.blobs.commitUpload(id, digest).catch(async (error: unknown) => {
      // A digest mismatch discards the bytes; the session goes with them.
      if (error instanceof RegistryError && error.code === 'DIGEST_INVALID') {
        await this.metadata.deleteUpload(id);
      }
      throw error;
    });
    await this.metadata.publishUpload(registry.id, repository, info.digest, info.size, id);
    return info;
  }

  async cancelUpload(registry: RegistryRecord, repository: string, id: string): Promise<void> {
    await this.requireUpload(registry, repository, id);
    await this.blobs.cancelUpload(id);
    await this.metadata.deleteUpload(id);
  }

  /**
   * Discards upload sessions untouched since `before`, and upload bytes that no session owns
   * (left by a crash between the two stores). Returns how many were removed.
   */
  async expireUploads(before: Date): Promise<number> {
    let removed = 0;
    const sessions = new Set<string>();
    for (const upload of await this.metadata.listUploads()) {
      if (new Date(upload.updatedAt) < before) {
        await this.blobs.cancelUpload(upload.id);
        await this.metadata.deleteUpload(upload.id);
        removed += 1;
      } else {
        sessions.add(upload.id);
      }
    }
    for await (const upload of this.blobs.listUploads()) {
      if (!sessions.has(upload.id) && upload.modified < before) {
        await this.blobs.cancelUpload(upload.id);
        removed += 1;
      }
    }
    return removed;
  }

  private async requireUpload(
    registry: RegistryRecord,
    repository: string,
    id: string,
  ): Promise<UploadRecord> {
    const upload = await this.metadata.getUpload(id);
    if (!upload || upload.registryId !== registry.id || upload.repository !== repository) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { uuid: id } });
    }
    return upload;
  }

  // Manifests

  async getManifest(
    registry: RegistryRecord,
    repository: string,
    reference: string,
  ): Promise<ManifestRecord> {
    const parsed = parseReadReference(reference);
    const digest =
      parsed.kind === 'digest'
        ? parsed.digest.value
        : await this.metadata.resolveTag(registry.id, repository, parsed.tag);
    const manifest = digest && (await this.metadata.getManifest(registry.id, repository, digest));
    if (!manifest) {
      if (!(await this.metadata.repositoryExists(registry.id, repository))) {
        throw new RegistryError(
          'NAME_UNKNOWN',
          `repository '${repository}' not known to registry`,
          {
            detail: { name: repository },
          },
        );
      }
      throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference } });
    }
    await this.locks.check(registry, repository, 'read', {
      digest: manifest.digest,
      ...(parsed.kind === 'tag' ? { tags: [parsed.tag] } : {}),
    });
    return manifest;
  }

  /**
   * Stores manifest bytes exactly as pushed. By digest, the bytes must hash to it; by tag, the
   * tag moves to the bytes' sha256 digest. Every referenced blob and child manifest must already
   * be in the repository (MANIFEST_BLOB_UNKNOWN otherwise); a subject need not exist. A
   * principal limited to referrers may store only manifests with a subject, by digest, untagged.
   */
  async putManifest(
    registry: RegistryRecord,
    repository: string,
    reference: string,
    content: Buffer,
    contentType: string | undefined,
    extraTags: string[] = [],
    options: { referrersOnly?: boolean } = {},
  ): Promise<StoredManifest> {
    const parsed = parseReference(reference);
    const digest =
      parsed.kind === 'digest' ? digestOf(content, parsed.digest.algorithm) : digestOf(content);
    if (parsed.kind === 'digest' && parsed.digest.value !== digest) {
      throw new RegistryError('DIGEST_INVALID', 'manifest digest did not match the reference', {
        detail: { expected: parsed.digest.value, actual: digest },
      });
    }
    const manifest = parseManifest(content, contentType);
    if (
      options.referrersOnly &&
      (parsed.kind !== 'digest' || extraTags.length > 0 || !manifest.subject)
    ) {
      throw new RegistryError(
        'DENIED',
        'requested access to the resource is denied: only referrers (a manifest with a subject, pushed by digest, untagged) may be written',
        { status: 403 },
      );
    }
    const tags = [...(parsed.kind === 'tag' ? [parsed.tag] : []), ...extraTags];
    // A locked tag may not move; re-pushing the bytes it already names is harmless.
    const moving: string[] = [];
    for (const tag of tags) {
      const current = await this.metadata.resolveTag(registry.id, repository, tag);
      if (current !== undefined && current !== digest) moving.push(tag);
    }
    await this.locks.check(registry, repository, 'write', { tags: moving });
    const record = {
      digest,
      mediaType: manifest.mediaType,
      content,
      blobs: manifest.blobs,
      children: manifest.children,
      ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
      ...(manifest.subject ? { subject: manifest.subject.digest } : {}),
      ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
    };
    for (const tag of tags.length > 0 ? tags : [undefined]) {
      const missing = await this.metadata.putManifest(registry.id, repository, {
        ...record,
        ...(tag !== undefined ? { tag } : {}),
      });
      if (missing) {
        throw new RegistryError('MANIFEST_BLOB_UNKNOWN', undefined, {
          detail: { blobs: missing.missingBlobs, manifests: missing.missingManifests },
        });
      }
    }
    this.pushes.emit({
      registry,
      repository,
      digest,
      mediaType: manifest.mediaType,
      ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
      ...(manifest.subject ? { subject: manifest.subject.digest } : {}),
      tags,
    });
    return { digest, ...(manifest.subject ? { subject: manifest.subject.digest } : {}) };
  }

  /** By digest: the manifest and all its tags go. By tag: only the tag goes. */
  async deleteManifest(
    registry: RegistryRecord,
    repository: string,
    reference: string,
  ): Promise<void> {
    const parsed = parseReadReference(reference);
    if (parsed.kind === 'digest') {
      const tags = (await this.metadata.listTagRecords(registry.id, repository))
        .filter((t) => t.digest === parsed.digest.value)
        .map((t) => t.name);
      await this.locks.check(registry, repository, 'delete', { digest: parsed.digest.value, tags });
    } else {
      const digest = await this.metadata.resolveTag(registry.id, repository, parsed.tag);
      await this.locks.check(registry, repository, 'delete', {
        tags: [parsed.tag],
        ...(digest ? { digest } : {}),
      });
    }
    const softDelete = softDeletePolicy(registry.properties).enabled;
    const deleted =
      parsed.kind === 'digest'
        ? await this.metadata.deleteManifest(
            registry.id,
            repository,
            parsed.digest.value,
            softDelete,
          )
        : await this.metadata.deleteTag(registry.id, repository, parsed.tag, softDelete);
    if (!deleted) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference } });
  }

  // Listing

  /** One page of tags, plus whether more may follow. NAME_UNKNOWN for a missing repository. */
  async listTags(
    registry: RegistryRecord,
    repository: string,
    limit: number | undefined,
    last: string | undefined,
  ): Promise<{ tags: string[]; more: boolean }> {
    if (!(await this.metadata.repositoryExists(registry.id, repository))) {
      throw new RegistryError('NAME_UNKNOWN', `repository '${repository}' not known to registry`, {
        detail: { name: repository },
      });
    }
    const page = await this.metadata.listTags(registry.id, repository, {
      ...(limit !== undefined ? { limit: limit + 1 } : {}),
      ...(last !== undefined ? { last } : {}),
    });
    return limit !== undefined && page.length > limit
      ? { tags: page.slice(0, limit), more: true }
      : { tags: page, more: false };
  }

  async listRepositories(
    registry: RegistryRecord,
    limit: number,
    last: string | undefined,
  ): Promise<{ repositories: string[]; more: boolean }> {
    const page = await this.metadata.listRepositories(registry.id, {
      limit: limit + 1,
      ...(last !== undefined ? { last } : {}),
    });
    return page.length > limit
      ? { repositories: page.slice(0, limit), more: true }
      : { repositories: page, more: false };
  }

  /** The referrers index for a subject digest; empty (never 404) when there are none. */
  async referrers(
    registry: RegistryRecord,
    repository: string,
    subject: string,
    artifactType: string | undefined,
  ): Promise<ReferrersIndex> {
    parseDigest(subject);
    const rows = await this.metadata.listReferrers(registry.id, repository, subject, artifactType);
    return {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: rows.map((row) => ({
        mediaType: row.mediaType,
        digest: row.digest,
        size: row.size,
        ...(row.artifactType ? { artifactType: row.artifactType } : {}),
        ...(row.annotations ? { annotations: row.annotations } : {}),
      })),
    };
  }
}

/**
 * For reads and deletes a tag that cannot exist is simply not found (404 MANIFEST_UNKNOWN, as the
 * spec and its conformance suite require); only a push of such a tag is a 400.
 */
function parseReadReference(reference: string): Reference {
  try {
    return parseReference(reference);
  } catch (error) {
    if (error instanceof RegistryError && error.code === 'MANIFEST_INVALID') {
      throw new RegistryError('MANIFEST_UNKNOWN', undefined, {
        detail: { reference: reference.slice(0, 200) },
      });
    }
    throw error;
  }
}
