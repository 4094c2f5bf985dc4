/**
 * @module metadata/stores
 * The three stores one metadata database holds, whichever engine it is.
 */
import { AccessLogStore } from './access-log-store.js';
import { KyselyControlPlaneStore } from './kysely-control-plane-store.js';
import type { KyselyMetadataStore } from './kysely-metadata-store.js';

export interface MetadataStores {
  metadata: KyselyMetadataStore;
  controlPlane: KyselyControlPlaneStore;
  accessLog: AccessLogStore;
}

/** The control-plane and access-log stores over the metadata store's database. */
export function storesOver(metadata: KyselyMetadataStore): MetadataStores {
  return {
    metadata,
    controlPlane: new KyselyControlPlaneStore(metadata.database),
    accessLog: new AccessLogStore(metadata.database),
  };
}
