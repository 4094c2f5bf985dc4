export type { BlobInfo, BlobStore, ByteRange } from './blob-store.js';
export { FilesystemBlobStore } from './filesystem-blob-store.js';
export { AzureBlobStore, type AzureBlobStoreOptions } from './azure-blob-store.js';
export { openBlobStore } from './open-blob-store.js';
export { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.js';
