/**
 * @module storage/open-blob-store
 * Picks the blob driver from the `storage` setting: empty = files under the data directory,
 * `azure://<container>` = Azure Blob Storage.
 */
import { AzureBlobStore } from './azure-blob-store.js';
import type { BlobStore } from './blob-store.js';
import { FilesystemBlobStore } from './filesystem-blob-store.js';

export async function openBlobStore(options: {
  storage: string;
  connectionString: string;
  filesystemRoot: string;
}): Promise<BlobStore> {
  if (!options.storage) return FilesystemBlobStore.open(options.filesystemRoot);
  const azure = /^azure:\/\/(.+)$/.exec(options.storage);
  if (azure) {
    return AzureBlobStore.open({
      connectionString: options.connectionString,
      container: azure[1]!,
    });
  }
  throw new Error(`unknown storage '${options.storage}'`);
}
