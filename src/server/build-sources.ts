/**
 * @module server/build-sources
 * Task source archives (`listBuildSourceUploadUrl`) in the registry's blob store, shared by
 * every replica: each is kept as an unpublished upload named `build-source-<key>`, so an
 * upload and the run that uses it may land on different replicas. Like any upload no session
 * owns, an archive is discarded `uploadExpiryHours` (default 24) after it was written; ACR
 * keeps uploaded sources for a day too.
 */
import type { Readable } from 'node:stream';
import { RegistryError } from '../core/errors.js';
import type { SourceArchives } from '../services/tasks/index.js';
import type { BlobStore } from '../storage/index.js';

export function blobStoreSourceArchives(blobs: BlobStore): SourceArchives {
  const uploadId = (key: string) => `build-source-${key}`;
  return {
    async store(key: string, archive: Readable): Promise<void> {
      const id = uploadId(key);
      await blobs.cancelUpload(id);
      await blobs.createUpload(id);
      try {
        await blobs.appendUpload(id, archive, 0);
      } catch (error) {
        await blobs.cancelUpload(id).catch(() => undefined);
        throw error;
      }
    },
    async open(key: string): Promise<Readable | undefined> {
      try {
        return await blobs.readUpload(uploadId(key));
      } catch (error) {
        if (error instanceof RegistryError && error.code === 'BLOB_UPLOAD_UNKNOWN')
          return undefined;
        throw error;
      }
    },
  };
}
