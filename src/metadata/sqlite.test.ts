import { metadataStoreContract } from './metadata-store.suite.js';
import { openSqliteMetadataStore } from './sqlite.js';

metadataStoreContract('sqlite', () => openSqliteMetadataStore(':memory:'));
