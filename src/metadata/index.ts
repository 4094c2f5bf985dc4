export type * from './metadata-store.js';
export { KyselyMetadataStore } from './kysely-metadata-store.js';
export { openSqliteMetadataStore } from './sqlite.js';
