/**
 * @module storage/open-blob-store
 * Picks the blob driver from the `storage` setting: empty = files under the data directory,
 * `azure://<container>` = Azure Blob Storage, `s3://<bucket>` = S3 or an S3-compatible service.
 */
import type { BlobStore } from './blob-store.js';
import { FilesystemBlobStore } from './filesystem-blob-store.js';

export async function openBlobStore(options: {
  storage: string;
  connectionString: string;
  s3Endpoint: string;
  s3Region: string;
  filesystemRoot: string;
}): Promise<BlobStore> {
  if (!options.storage) return FilesystemBlobStore.open(options.filesystemRoot);
  const s3 = /^s3:\/\/(.+)$/.exec(options.storage);
  // The cloud SDKs load only when used: they would cost every embedded server tens of MiB.
  if (s3) {
    const { S3BlobStore } = await import('./s3-blob-store.js');
    return S3BlobStore.open({
      bucket: s3[1]!,
      endpoint: options.s3Endpoint,
      region: options.s3Region,
    });
  }
  const azure = /^azure:\/\/(.+)$/.exec(options.storage);
  if (azure) {
    const { AzureBlobStore } = await import('./azure-blob-store.js');
    return AzureBlobStore.open({
      connectionString: options.connectionString,
      container: azure[1]!,
    });
  }
  throw new Error(`unknown storage '${options.storage}'`);
}
