/**
 * @module storage/open-blob-store
 * Picks the blob driver from the `storage` setting: empty = files under the data directory,
 * `azure://<container>` = Azure Blob Storage, `s3://<bucket>` = S3 or an S3-compatible service.
 */
import { AzureBlobStore } from './azure-blob-store.js';
import type { BlobStore } from './blob-store.js';
import { FilesystemBlobStore } from './filesystem-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

export async function openBlobStore(options: {
  storage: string;
  connectionString: string;
  s3Endpoint: string;
  s3Region: string;
  filesystemRoot: string;
}): Promise<BlobStore> {
  if (!options.storage) return FilesystemBlobStore.open(options.filesystemRoot);
  const s3 = /^s3:\/\/(.+)$/.exec(options.storage);
  if (s3) {
    return S3BlobStore.open({
      bucket: s3[1]!,
      endpoint: options.s3Endpoint,
      region: options.s3Region,
    });
  }
  const azure = /^azure:\/\/(.+)$/.exec(options.storage);
  if (azure) {
    return AzureBlobStore.open({
      connectionString: options.connectionString,
      container: azure[1]!,
    });
  }
  throw new Error(`unknown storage '${options.storage}'`);
}
