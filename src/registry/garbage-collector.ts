/**
 * @module registry/garbage-collector
 * Online garbage collection, driven by the metadata, while the registry serves:
 *
 * 1. retention: in registries whose `policies.retentionPolicy` is enabled, untagged manifests
 *    older than its `days` (and than the grace period) are deleted, unless an index lists them,
 *    they are referrers, or a lock protects them;
 * 2. soft delete: manifests and tags soft-deleted (`policies.softDeletePolicy`) longer ago than
 *    its `retentionDays` are forgotten, so their blobs become garbage for the sweep; until then
 *    the sweep keeps every blob a soft-deleted manifest references;
 * 3. sweep: blobs that no manifest references and that nobody pushed, mounted or claimed within
 *    the grace period lose their bytes and their rows;
 * 4. orphans: bytes in the blob store that no row describes (a crash between the two stores)
 *    are deleted, unless an upload has claimed them.
 *
 * Every deletion re-checks its target inside a metadata transaction that excludes manifest
 * pushes, publishes and mounts (MetadataStore.collectBlob & co.), so a blob an in-flight push
 * relies on is never taken: pushed or mounted within the grace period, claimed by an upload
 * being completed, or referenced by a manifest being stored. Several replicas may collect at
 * the same time; they only repeat each other's checks.
 */
import type { Logger } from 'pino';
import type { MetadataStore } from '../metadata/index.js';
import type { BlobStore } from '../storage/index.js';
import { softDeletePolicy } from './soft-delete.js';

const DAY = 24 * 3600_000;
const BATCH = 500;

export interface CollectionReport {
  manifestsDeleted: number;
  /** Soft-deleted manifests whose retention ran out. */
  softDeletedPurged: number;
  blobsDeleted: number;
  orphansDeleted: number;
}

/** An enabled `policies.retentionPolicy`'s days, else undefined. */
export function retentionDays(properties: Record<string, unknown>): number | undefined {
  const policies = properties.policies as Record<string, unknown> | undefined;
  const policy = policies?.retentionPolicy as { days?: unknown; status?: unknown } | undefined;
  if (policy?.status !== 'enabled' || typeof policy.days !== 'number') return undefined;
  return policy.days;
}

export class GarbageCollector {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly graceMs: number,
  ) {}

  async collect(now = new Date()): Promise<CollectionReport> {
    const report: CollectionReport = {
      manifestsDeleted: 0,
      softDeletedPurged: 0,
      blobsDeleted: 0,
      orphansDeleted: 0,
    };
    await this.applyRetention(now, report);
    await this.purgeSoftDeleted(now, report);
    await this.sweepBlobs(new Date(now.getTime() - this.graceMs).toISOString(), report);
    await this.sweepOrphans(report);
    return report;
  }

  private async applyRetention(now: Date, report: CollectionReport): Promise<void> {
    for (const registry of await this.metadata.listRegistries()) {
      const days = retentionDays(registry.properties);
      if (days === undefined) continue;
      const age = Math.max(days * DAY, this.graceMs);
      const cutoff = new Date(now.getTime() - age).toISOString();
      for (const { repository, digest } of await this.metadata.listExpiredUntaggedManifests(
        registry.id,
        cutoff,
      )) {
        if (
          await this.metadata.deleteExpiredUntaggedManifest(registry.id, repository, digest, cutoff)
        ) {
          report.manifestsDeleted += 1;
        }
      }
    }
  }

  private async purgeSoftDeleted(now: Date, report: CollectionReport): Promise<void> {
    for (const registry of await this.metadata.listRegistries()) {
      // The current retentionDays counts, even once the policy is disabled (as ACR's auto-purge).
      const { retentionDays: days } = softDeletePolicy(registry.properties);
      const cutoff = new Date(now.getTime() - days * DAY).toISOString();
      report.softDeletedPurged += await this.metadata.purgeDeleted(registry.id, cutoff);
    }
  }

  private async sweepBlobs(cutoff: string, report: CollectionReport): Promise<void> {
    for (;;) {
      const batch = await this.metadata.listGarbageBlobs(cutoff, BATCH);
      let collected = 0;
      for (const digest of batch) {
        const deleteBytes = async () => void (await this.blobs.delete(digest));
        if (await this.metadata.collectBlob(digest, cutoff, deleteBytes)) collected += 1;
      }
      report.blobsDeleted += collected;
      // A short batch was the last; a batch where nothing qualified any more would only repeat.
      if (batch.length < BATCH || collected === 0) return;
    }
  }

  private async sweepOrphans(report: CollectionReport): Promise<void> {
    for await (const digest of this.blobs.list()) {
      if ((await this.metadata.getBlobSize(digest)) !== undefined) continue;
      const deleteBytes = async () => void (await this.blobs.delete(digest));
      if (await this.metadata.collectOrphan(digest, deleteBytes)) report.orphansDeleted += 1;
    }
  }
}

/** Runs collection every `intervalMs` (first run right away); errors are logged, not thrown. */
export function scheduleCollection(
  collector: GarbageCollector,
  intervalMs: number,
  logger: Logger,
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const runOnce = () => {
    if (running) return;
    running = collector
      .collect()
      .then((report) => {
        const total =
          report.manifestsDeleted +
          report.softDeletedPurged +
          report.blobsDeleted +
          report.orphansDeleted;
        if (total > 0) logger.info(report, 'garbage collected');
      })
      .catch((error: unknown) => logger.error({ err: error }, 'garbage collection failed'))
      .finally(() => (running = undefined));
  };
  runOnce();
  const timer = setInterval(runOnce, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
