import { afterAll, beforeAll, describe } from 'vitest';
import {
  requirePostgres,
  startPostgres,
  type PostgresServer,
} from '../../test/support/postgres.js';
import { metadataStoreContract } from './metadata-store.suite.js';
import { openPostgresMetadataStore, openPostgresStores } from './postgres.js';
import { serviceStoresContract } from './service-stores.suite.js';

// One throwaway server for the file; every store opens its own fresh database.
describe.runIf(requirePostgres())('PostgreSQL metadata backend', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  metadataStoreContract('postgres', async () =>
    openPostgresMetadataStore(await server.createDatabase()),
  );
  serviceStoresContract('postgres', async () => openPostgresStores(await server.createDatabase()));
});
