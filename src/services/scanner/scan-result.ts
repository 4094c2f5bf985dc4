/**
 * @module services/scanner/scan-result
 * What a scan reports for one manifest digest, as the management API and the CLI show it.
 */
import type { OperatingSystem } from './package-inventory.js';
import type { Severity } from './osv.js';

export type ScanStatus = 'Queued' | 'Succeeded' | 'Failed';

export interface Finding {
  /** The advisory's id (`DSA-5218-1`, `GHSA-...`). */
  id: string;
  /** Other names of the same vulnerability, CVE ids first. */
  aliases: string[];
  summary?: string;
  severity: Severity;
  cvssScore?: number;
  package: {
    ecosystem: string;
    name: string;
    sourceName?: string;
    installedVersion: string;
    fixedVersion?: string;
    /** The layer whose files recorded the package. */
    layer: string;
    path: string;
  };
}

export interface ScanResult {
  registry: string;
  repository: string;
  /** The digest that was pushed or asked for (an index or an image manifest). */
  digest: string;
  /** The image manifest scanned (the linux/amd64 one when `digest` is an index). */
  imageDigest?: string;
  status: ScanStatus;
  /** Why a scan failed, e.g. "unable to scan: network restricted (<the registry's message>)". */
  reason?: string;
  scannedAt: string;
  /** What started it: a push, a database update, or a request. */
  trigger: 'push' | 'database' | 'request';
  databaseVersion?: string;
  os?: OperatingSystem;
  packageCount?: number;
  summary: Record<Severity, number> & { total: number };
  findings: Finding[];
  /** The SBOM referrer pushed for the image, or why it could not be. */
  sbom?: { digest: string; artifactType: string } | { error: string };
}

export function emptySummary(): ScanResult['summary'] {
  return { Critical: 0, High: 0, Medium: 0, Low: 0, Unknown: 0, total: 0 };
}
