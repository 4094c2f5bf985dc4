export type * from './metadata-store.js';
export { ALL_ENABLED } from './metadata-store.js';
export * from './control-plane-store.js';
export { KyselyControlPlaneStore } from './kysely-control-plane-store.js';
export { KyselyMetadataStore } from './kysely-metadata-store.js';
export type { MetadataStores, MetadataStores as SqliteStores } from './stores.js';
export { openSqliteMetadataStore, openSqliteStores } from './sqlite.js';
export { isPostgresUrl, openMetadataStores } from './open-stores.js';
export { AccessLogStore, type AccessQuery, type AccessRecord } from './access-log-store.js';
export {
  ScannerStore,
  type StoredAdvisory,
  type StoredScanResult,
  type VulnerabilityDatabaseInfo,
} from './scanner-store.js';
export { RunLogStore } from './run-log-store.js';
export { WorkLeaseStore, type WorkLease } from './work-lease-store.js';
