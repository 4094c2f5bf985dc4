export type * from './metadata-store.js';
export { ALL_ENABLED } from './metadata-store.js';
export * from './control-plane-store.js';
export { KyselyControlPlaneStore } from './kysely-control-plane-store.js';
export { KyselyMetadataStore } from './kysely-metadata-store.js';
export { openSqliteMetadataStore, openSqliteStores, type SqliteStores } from './sqlite.js';
export { AccessLogStore, type AccessQuery, type AccessRecord } from './access-log-store.js';
export { RunLogStore } from './run-log-store.js';
