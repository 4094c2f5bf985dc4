/**
 * @module services/scanner/scanner
 * The vulnerability scanner, a trusted first-party service ("Defender for container
 * registries"). It has no managed identity: it presents the platform's first-party scanner
 * token, pulls through the public data endpoint from the platform's source address like any
 * client, and so gets into a network-restricted registry only while the registry allows
 * trusted services. When the registry refuses, the result says so in the registry's words.
 *
 * Scans run one at a time from an in-process queue fed by pushes, by database updates (every
 * result made with an older database version is queued again) and by requests.
 */
import type { Logger } from 'pino';
import type { IdentityService } from '../../identity/index.js';
import type { ScannerStore } from '../../metadata/index.js';
import type { ServiceEnvironment } from '../environment.js';
import { RegistryClientError, type RegistryClient } from '../registry-client.js';
import { collectImageFiles, UnsupportedLayerError } from './image-files.js';
import { buildInventory, isInventoryFile, type Inventory } from './package-inventory.js';
import {
  matchAdvisory,
  severityOf,
  SEVERITIES,
  type InstalledPackage,
  type OsvAdvisory,
  type Severity,
} from './osv.js';
import { EMPTY_CONFIG, sbomArtifact, SPDX_MEDIA_TYPE } from './sbom.js';
import { emptySummary, type Finding, type ScanResult } from './scan-result.js';
import type { VulnerabilityDatabase } from './vulnerability-database.js';

/** The first-party service name the access decision knows the scanner's permissions by. */
export const SCANNER_SERVICE = 'scanner';
const SCANNER_DISPLAY_NAME = 'Breakwater vulnerability scanner';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

export interface ScanTarget {
  registryId: string;
  loginServer: string;
  repository: string;
  digest: string;
}

export interface ScannerOptions {
  environment: ServiceEnvironment;
  identity: IdentityService;
  store: ScannerStore;
  database: VulnerabilityDatabase;
  logger: Logger;
  /** The registry audience the scanner's identity token is issued for. */
  audience: string;
  /** How often the database version is checked for a re-scan, in seconds. */
  databasePollSeconds: number;
}

interface Job {
  target: ScanTarget;
  trigger: ScanResult['trigger'];
  done: Promise<ScanResult | undefined>;
  resolve: (result: ScanResult | undefined) => void;
}

export class VulnerabilityScanner {
  private readonly queue: Job[] = [];
  private readonly pending = new Map<string, Job>();
  private running?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: ScannerOptions) {}

  /** Starts the database watch (re-scans when an import changed the database). */
  start(): void {
    this.timer = setInterval(() => {
      this.rescanOutdated().catch((error: unknown) =>
        this.options.logger.warn({ err: error }, 'scanner: database check failed'),
      );
    }, this.options.databasePollSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.queue.length = 0;
    await this.running;
  }

  /**
   * Queues a scan (once: a digest already waiting is not queued twice) and returns its
   * result, or undefined when the manifest is not an image (an SBOM, a signature...).
   */
  enqueue(target: ScanTarget, trigger: ScanResult['trigger']): Promise<ScanResult | undefined> {
    const key = `${target.registryId}\u0000${target.digest}`;
    const waiting = this.pending.get(key);
    if (waiting) return waiting.done;
    let resolve!: Job['resolve'];
    const done = new Promise<ScanResult | undefined>((r) => (resolve = r));
    const job: Job = { target, trigger, done, resolve };
    this.pending.set(key, job);
    this.queue.push(job);
    // After the current I/O turn: the push that queued this is answered before any scan work.
    this.running ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => {
        this.running = undefined;
        for (const wake of this.idleWaiters.splice(0)) wake();
      });
    return done;
  }

  /** Resolves once the queue is empty (tests, shutdown). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Queues again every result made with a database other than the current one. */
  async rescanOutdated(): Promise<number> {
    const current = await this.options.database.info();
    if (!current) return 0;
    let queued = 0;
    for (const stored of await this.options.store.listResults()) {
      if (stored.databaseVersion === current.version) continue;
      const result = JSON.parse(stored.result) as ScanResult;
      void this.enqueue(
        {
          registryId: stored.registryId,
          loginServer: result.registry,
          repository: stored.repository,
          digest: stored.digest,
        },
        'database',
      );
      queued++;
    }
    return queued;
  }

  private async drain(): Promise<void> {
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      this.pending.delete(`${job.target.registryId}\u0000${job.target.digest}`);
      let result: ScanResult | undefined;
      try {
        result = await this.scan(job.target, job.trigger);
      } catch (error) {
        this.options.logger.error({ err: error, target: job.target }, 'scanner: scan crashed');
        result = failed(job.target, job.trigger, `unable to scan: ${String(error)}`);
      }
      if (result) {
        await this.options.store.putResult({
          registryId: job.target.registryId,
          digest: job.target.digest,
          repository: job.target.repository,
          status: result.status,
          scannedAt: result.scannedAt,
          ...(result.databaseVersion ? { databaseVersion: result.databaseVersion } : {}),
          result: JSON.stringify(result),
        });
        this.options.logger.info(
          {
            scan: {
              registry: result.registry,
              repository: result.repository,
              digest: result.digest,
              status: result.status,
              reason: result.reason,
              summary: result.summary,
            },
          },
          'scanner: scan finished',
        );
      }
      job.resolve(result);
    }
  }

  private client(loginServer: string): RegistryClient {
    const { identity, audience } = this.options;
    return this.options.environment.clientFor(loginServer, {
      kind: 'identity',
      token: async () =>
        (await identity.firstPartyToken(SCANNER_SERVICE, SCANNER_DISPLAY_NAME, audience)).token,
    });
  }

  /** One scan: pull, inventory, match, attach the SBOM. Undefined for non-images. */
  async scan(target: ScanTarget, trigger: ScanResult['trigger']): Promise<ScanResult | undefined> {
    const database = await this.options.database.info();
    if (!database) {
      // Nothing to match against: a push leaves no result (and costs no write); a request
      // is told why.
      if (trigger === 'push') return undefined;
      return failed(
        target,
        trigger,
        'unable to scan: no vulnerability database is imported (breakwater scanner db import PATH)',
      );
    }
    const client = this.client(target.loginServer);
    try {
      const top = await client.getManifest(target.repository, target.digest);
      if (!isImage(top.json)) return undefined;
      const image = await client.resolveImage(target.repository, target.digest);
      const files = await collectImageFiles(
        image.layers.map((layer) => ({
          digest: layer.digest,
          mediaType: layer.mediaType,
          open: () => client.openBlob(target.repository, layer.digest),
        })),
        isInventoryFile,
      );
      const inventory = buildInventory(files);
      const findings = await this.findings(inventory.packages);
      const summary = emptySummary();
      for (const finding of findings) {
        summary[finding.severity]++;
        summary.total++;
      }
      const result: ScanResult = {
        registry: target.loginServer,
        repository: target.repository,
        digest: target.digest,
        imageDigest: image.manifest.digest,
        status: 'Succeeded',
        scannedAt: new Date().toISOString(),
        trigger,
        databaseVersion: database.version,
        ...(inventory.os ? { os: inventory.os } : {}),
        packageCount: inventory.packages.length,
        summary,
        findings,
      };
      result.sbom = await this.attachSbom(client, target, top, image.config, inventory);
      return result;
    } catch (error) {
      if (error instanceof RegistryClientError)
        return failed(target, trigger, refusalReason(error), database.version);
      if (error instanceof UnsupportedLayerError)
        return failed(target, trigger, `unable to scan: ${error.message}`, database.version);
      throw error;
    }
  }

  private async findings(packages: InstalledPackage[]): Promise<Finding[]> {
    const findings: Finding[] = [];
    for (const pkg of packages) {
      for (const advisory of await this.options.database.advisoriesAbout(pkg)) {
        const match = matchAdvisory(advisory, pkg);
        if (!match) continue;
        const aliases = [
          ...new Set([...(advisory.aliases ?? []), ...(advisory.upstream ?? [])]),
        ].sort((a, b) => Number(b.startsWith('CVE-')) - Number(a.startsWith('CVE-')));
        let rating = severityOf(advisory, match.affected);
        if (rating.severity === 'Unknown') rating = await this.severityFromAliases(aliases);
        findings.push({
          id: advisory.id,
          aliases,
          ...(advisory.summary ? { summary: advisory.summary } : {}),
          severity: rating.severity,
          ...(rating.cvssScore !== undefined ? { cvssScore: rating.cvssScore } : {}),
          package: {
            ecosystem: pkg.ecosystem,
            name: pkg.name,
            ...(pkg.sourceName ? { sourceName: pkg.sourceName } : {}),
            installedVersion: pkg.version,
            ...(match.fixedVersion ? { fixedVersion: match.fixedVersion } : {}),
            layer: pkg.layer,
            path: pkg.path,
          },
        });
      }
    }
    const rank = (s: Severity): number => SEVERITIES.indexOf(s);
    return findings.sort(
      (a, b) =>
        rank(a.severity) - rank(b.severity) ||
        a.package.name.localeCompare(b.package.name) ||
        a.id.localeCompare(b.id),
    );
  }

  /** Distribution advisories carry no rating: take the worst of the CVE records they name. */
  private async severityFromAliases(
    aliases: string[],
  ): Promise<{ severity: Severity; cvssScore?: number }> {
    const records: OsvAdvisory[] = await this.options.database.advisoriesById(aliases);
    const ratings = records.map((record) => severityOf(record));
    ratings.sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
    const worst = ratings[0];
    return worst
      ? {
          severity: worst.severity,
          ...(worst.cvssScore !== undefined ? { cvssScore: worst.cvssScore } : {}),
        }
      : { severity: 'Unknown' };
  }

  /** Pushes the SBOM as a referrer of the scanned manifest; a refusal is reported, not fatal. */
  private async attachSbom(
    client: RegistryClient,
    target: ScanTarget,
    top: { digest: string; mediaType: string; bytes: Buffer },
    config: Record<string, unknown>,
    inventory: Inventory,
  ): Promise<ScanResult['sbom']> {
    const artifact = sbomArtifact(
      {
        loginServer: target.loginServer,
        repository: target.repository,
        digest: top.digest,
        mediaType: top.mediaType,
        size: top.bytes.length,
        ...(typeof config.created === 'string' ? { created: config.created } : {}),
      },
      inventory,
    );
    try {
      const layer = JSON.parse(artifact.manifest.toString()) as {
        config: { digest: string };
        layers: Array<{ digest: string }>;
      };
      await client.pushBlob(
        target.repository,
        { digest: layer.config.digest, size: EMPTY_CONFIG.length },
        () => EMPTY_CONFIG,
      );
      await client.pushBlob(
        target.repository,
        { digest: layer.layers[0]!.digest, size: artifact.document.length },
        () => artifact.document,
      );
      const digest = await client.putManifest(
        target.repository,
        artifact.manifestDigest,
        artifact.manifest,
        'application/vnd.oci.image.manifest.v1+json',
      );
      return { digest, artifactType: SPDX_MEDIA_TYPE };
    } catch (error) {
      if (error instanceof RegistryClientError) return { error: error.describe() };
      throw error;
    }
  }
}

/** Images have an image config (or are an index of them); artifacts and SBOMs are skipped. */
function isImage(manifest: Record<string, unknown>): boolean {
  if (manifest.subject !== undefined) return false;
  if (Array.isArray(manifest.manifests)) return manifest.artifactType === undefined;
  const config = manifest.config as { mediaType?: unknown } | undefined;
  if (manifest.artifactType !== undefined && manifest.artifactType !== null) return false;
  return typeof config?.mediaType === 'string' && config.mediaType !== OCI_EMPTY
    ? IMAGE_CONFIG_TYPES.has(config.mediaType)
    : false;
}

/** The registry's refusal in its own words, named for what it is. */
function refusalReason(error: RegistryClientError): string {
  const network = /not allowed access|public network access|private endpoint|virtual network/i;
  if (error.status === 403 && network.test(error.message))
    return `unable to scan: network restricted (${error.message})`;
  if (error.status === 401 || error.status === 403)
    return `unable to scan: access denied (${error.message})`;
  return `unable to scan: ${error.describe()}`;
}

function failed(
  target: ScanTarget,
  trigger: ScanResult['trigger'],
  reason: string,
  databaseVersion?: string,
): ScanResult {
  return {
    registry: target.loginServer,
    repository: target.repository,
    digest: target.digest,
    status: 'Failed',
    reason,
    scannedAt: new Date().toISOString(),
    trigger,
    ...(databaseVersion ? { databaseVersion } : {}),
    summary: emptySummary(),
    findings: [],
  };
}
