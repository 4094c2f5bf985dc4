import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../core/digest.js';
import { openSqliteMetadataStore } from '../metadata/index.js';
import { FilesystemBlobStore, type BlobStore } from '../storage/index.js';
import { GarbageCollector, retentionDays } from './garbage-collector.js';

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Puts bytes into the blob store only, as a crash between the two stores would leave them. */
async function storeBytes(blobs: BlobStore, bytes: Buffer): Promise<string> {
  const id = randomUUID();
  await blobs.createUpload(id);
  await blobs.appendUpload(id, Readable.from([bytes]), 0);
  return (await blobs.commitUpload(id, parseDigest(sha256(bytes)))).digest;
}

describe('GarbageCollector on the embedded stores', () => {
  it('sweeps unreferenced blobs and orphaned bytes, keeps referenced ones', async () => {
    const metadata = await openSqliteMetadataStore(':memory:');
    const blobs = await FilesystemBlobStore.open(mkdtempSync(join(tmpdir(), 'breakwater-gc-')));
    const registry = await metadata.createRegistry({ name: 'gc', loginServer: 'gc.test' });
    const referenced = await storeBytes(blobs, randomBytes(100));
    const unreferenced = await storeBytes(blobs, randomBytes(100));
    const orphan = await storeBytes(blobs, randomBytes(100));
    for (const digest of [referenced, unreferenced]) {
      await metadata.recordBlob(digest, 100);
      await metadata.linkBlob(registry.id, 'app', digest);
    }
    await metadata.putManifest(registry.id, 'app', {
      digest: sha256(Buffer.from('m')),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      content: Buffer.from('m'),
      blobs: [referenced],
      children: [],
      tag: 'v1',
    });

    // Within the grace period nothing goes but bytes no row describes.
    const patient = new GarbageCollector(metadata, blobs, 3600_000);
    expect(await patient.collect()).toEqual({
      manifestsDeleted: 0,
      softDeletedPurged: 0,
      blobsDeleted: 0,
      orphansDeleted: 1,
    });
    expect(await blobs.stat(orphan)).toBeUndefined();
    expect(await blobs.stat(unreferenced)).toBeDefined();

    const later = new Date(Date.now() + 7200_000);
    expect(await patient.collect(later)).toEqual({
      manifestsDeleted: 0,
      softDeletedPurged: 0,
      blobsDeleted: 1,
      orphansDeleted: 0,
    });
    expect(await blobs.stat(unreferenced)).toBeUndefined();
    expect(await blobs.stat(referenced)).toBeDefined();
    expect(await metadata.getLinkedBlob(registry.id, 'app', referenced)).toBe(100);
    await metadata.close();
  });

  it("keeps a soft-deleted manifest's blobs until its retention days have passed", async () => {
    const metadata = await openSqliteMetadataStore(':memory:');
    const blobs = await FilesystemBlobStore.open(mkdtempSync(join(tmpdir(), 'breakwater-gc-')));
    const registry = await metadata.createRegistry({
      name: 'sd',
      loginServer: 'sd.test',
      properties: { policies: { softDeletePolicy: { status: 'enabled', retentionDays: 3 } } },
    });
    const layer = await storeBytes(blobs, randomBytes(100));
    await metadata.recordBlob(layer, 100);
    await metadata.linkBlob(registry.id, 'app', layer);
    const digest = sha256(Buffer.from('sd'));
    await metadata.putManifest(registry.id, 'app', {
      digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      content: Buffer.from('sd'),
      blobs: [layer],
      children: [],
      tag: 'v1',
    });
    expect(await metadata.deleteManifest(registry.id, 'app', digest, true)).toBe(true);

    const collector = new GarbageCollector(metadata, blobs, 3600_000);
    const inDays = (days: number) => new Date(Date.now() + days * 24 * 3600_000);
    // Two days on: past the grace period, within the retention days.
    expect(await collector.collect(inDays(2))).toMatchObject({
      softDeletedPurged: 0,
      blobsDeleted: 0,
    });
    expect(await blobs.stat(layer)).toBeDefined();
    expect(await metadata.listDeletedTags(registry.id, 'app')).toHaveLength(1);
    // Four days on: expired, forgotten, and its blob collected in the same pass.
    expect(await collector.collect(inDays(4))).toMatchObject({
      softDeletedPurged: 1,
      blobsDeleted: 1,
    });
    expect(await blobs.stat(layer)).toBeUndefined();
    expect(await metadata.listDeletedManifests(registry.id, 'app')).toEqual([]);
    expect(await metadata.listDeletedTags(registry.id, 'app')).toEqual([]);
    expect(await metadata.restoreManifest(registry.id, 'app', digest, { tag: 'v1' })).toBe(
      'not-found',
    );
    await metadata.close();
  });

  it('reads only an enabled retention policy', () => {
    const policy = (status: string, days: number) => ({
      policies: { retentionPolicy: { status, days } },
    });
    expect(retentionDays(policy('enabled', 3))).toBe(3);
    expect(retentionDays(policy('disabled', 3))).toBeUndefined();
    expect(retentionDays({})).toBeUndefined();
  });
});
