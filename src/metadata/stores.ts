/**
 * @module metadata/stores
 * The stores one metadata database holds, whichever engine it is.
 */
import { AccessLogStore } from './access-log-store.js';
import { KyselyControlPlaneStore } from './kysely-control-plane-store.js';
import type { KyselyMetadataStore } from './kysely-metadata-store.js';
import { RunLogStore } from './run-log-store.js';
import { ScannerStore } from './scanner-store.js';
import { WorkLeaseStore } from './work-lease-store.js';

export interface MetadataStores {
  metadata: KyselyMetadataStore;
  controlPlane: KyselyControlPlaneStore;
  accessLog: AccessLogStore;
  runLogs: RunLogStore;
  scanner: ScannerStore;
  leases: WorkLeaseStore;
}

/** The control-plane and access-log stores over the metadata store's database. */
export function storesOver(metadata: KyselyMetadataStore): MetadataStores {
  return {
    metadata,
    controlPlane: new KyselyControlPlaneStore(metadata.database, metadata.accessWrites),
    accessLog: new AccessLogStore(metadata.database),
    runLogs: new RunLogStore(metadata.database),
    scanner: new ScannerStore(metadata.database),
    leases: new WorkLeaseStore(metadata.database),
  };
}
