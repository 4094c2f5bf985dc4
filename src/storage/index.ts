export type { BlobInfo, BlobSender, BlobStore, ByteRange } from './blob-store.js';
export { FilesystemBlobStore } from './filesystem-blob-store.js';
export { openBlobStore } from './open-blob-store.js';
