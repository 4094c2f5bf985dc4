import { afterAll, beforeAll, describe } from 'vitest';
import { startAzurite, type AzuriteServer } from '../../test/support/azurite.js';
import { AzureBlobStore } from './azure-blob-store.js';
import { blobStoreContract } from './blob-store.suite.js';

// One Azurite for the file; every store gets its own container.
describe('Azure Blob Storage driver (Azurite)', () => {
  let azurite: AzuriteServer;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  blobStoreContract('azure', () =>
    AzureBlobStore.open({
      connectionString: azurite.connectionString,
      container: azurite.newContainer(),
    }),
  );
});
