import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobStoreContract } from './blob-store.suite.js';
import { FilesystemBlobStore } from './filesystem-blob-store.js';

blobStoreContract('filesystem', () =>
  FilesystemBlobStore.open(mkdtempSync(join(tmpdir(), 'breakwater-blobs-'))),
);
