/**
 * @module services/scanner
 * The vulnerability scanner (a trusted first-party service): OSV database, per-ecosystem
 * version orders, image inventory, findings, SBOM referrers. See docs/scanner.md.
 */
export { VulnerabilityScanner, SCANNER_SERVICE, type ScanTarget } from './scanner.js';
export { VulnerabilityDatabase, type ImportOutcome } from './vulnerability-database.js';
export { OsvFormatError } from './osv.js';
export type { Finding, ScanResult, ScanStatus } from './scan-result.js';
