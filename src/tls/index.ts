/**
 * @module tls
 * TLS for Breakwater's listeners: the platform's own CA and server certificate, made under the
 * data directory when no certificate is configured (`ensureTlsMaterial`), a configured PEM pair
 * checked before use (`loadTlsFiles`), the protocol versions and suites every listener offers
 * (`SERVER_TLS_SETTINGS`), and the text telling people how to trust the CA
 * (`trustInstructions`).
 */
export { ensureTlsMaterial, ensureTlsMaterialOffThread, type TlsMaterial } from './material.js';
export { loadTlsFiles } from './configured-files.js';
export { SERVER_TLS_SETTINGS } from './server-settings.js';
export { trustInstructions } from './trust.js';
export type { SubjectNames } from './names.js';
