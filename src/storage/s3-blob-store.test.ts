import { afterAll, beforeAll, describe } from 'vitest';
import { startS3rver, type S3Server } from '../../test/support/s3rver.js';
import { blobStoreContract } from './blob-store.suite.js';
import { S3BlobStore } from './s3-blob-store.js';

// One s3rver for the file; every store gets its own bucket.
describe('S3 driver (s3rver)', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  blobStoreContract('s3', () =>
    S3BlobStore.open({
      bucket: s3.newBucket(),
      endpoint: s3.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    }),
  );
});
