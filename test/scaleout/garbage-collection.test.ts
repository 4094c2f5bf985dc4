/**
 * Online garbage collection on the shared engines: one `breakwater serve` on PostgreSQL and
 * Azurite, collecting every few hundred milliseconds with a short grace period, while clients
 * keep pushing images. Garbage (a deleted image's own blobs, a blob pushed with no manifest, an
 * untagged manifest past the registry's retention policy) must leave the blob container; every
 * image pushed meanwhile must pull back whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../../src/storage/azure-blob-store.js';
import { RegistryClient } from '../conformance/http.js';
import { ArmClient } from '../support/arm-client.js';
import { startAzurite, type AzuriteServer } from '../support/azurite.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';

const enabled = requirePostgres();
const API = 'api-version=2023-07-01';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/**
 * Collection every 0.6 s; blobs younger than 15 s are never collected. The grace period is the
 * longest a client may take between pushing a layer and the manifest over it: it is kept well
 * above what a push takes here even on a loaded machine.
 */
const GC_ENV = { BREAKWATER_GC_INTERVAL_MINUTES: '0.01', BREAKWATER_GC_GRACE_MINUTES: '0.25' };

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

interface Image {
  repository: string;
  tag: string;
  manifest: Buffer;
  digest: string;
  blobs: Buffer[];
}

describe.skipIf(!enabled)('online garbage collection under concurrent pushes', () => {
  let postgres: PostgresServer;
  let azurite: AzuriteServer;
  let container: string;
  let server: RunningServer;
  let client: RegistryClient;
  let storage: AzureBlobStore;

  beforeAll(async () => {
    postgres = await startPostgres();
    azurite = await startAzurite();
    container = azurite.newContainer();
    server = await startServer({
      env: {
        BREAKWATER_METADATA_URL: await postgres.createDatabase(),
        BREAKWATER_STORAGE: `azure://${container}`,
        BREAKWATER_STORAGE_CONNECTION_STRING: azurite.connectionString,
        ...GC_ENV,
      },
    });
    client = new RegistryClient(server.url, {
      username: server.owner.clientId,
      password: server.owner.clientSecret,
    });
    // The test looks into the container itself: what the collector left is what exists.
    storage = await AzureBlobStore.open({
      connectionString: azurite.connectionString,
      container,
    });
  }, 120_000);

  afterAll(async () => {
    if (server) {
      await server.stop();
      removeDataDir(server.dataDir);
    }
    await azurite?.stop();
    await postgres?.stop();
  });

  async function pushBlob(repository: string, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const started = await client.request('POST', `/v2/${repository}/blobs/uploads/`);
    expect(started.status).toBe(202);
    const done = await client.request('PUT', started.headers.get('location')!, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes,
      query: { digest },
    });
    expect(done.status, done.body.toString()).toBe(201);
    return digest;
  }

  /** Pushes the blobs, waits `pauseMs` (a slow client), then the manifest. */
  async function pushImage(
    repository: string,
    reference: string,
    blobs: Buffer[],
    pauseMs = 0,
  ): Promise<Image> {
    for (const blob of blobs) await pushBlob(repository, blob);
    await new Promise((r) => setTimeout(r, pauseMs));
    const [config, ...layers] = blobs;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: sha256(config!),
          size: config!.length,
        },
        layers: layers.map((layer) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: sha256(layer),
          size: layer.length,
        })),
      }),
    );
    const put = await client.request('PUT', `/v2/${repository}/manifests/${reference}`, {
      headers: { 'Content-Type': MANIFEST },
      body: manifest,
    });
    expect(put.status, put.body.toString()).toBe(201);
    return { repository, tag: reference, manifest, digest: sha256(manifest), blobs };
  }

  const configBlob = (name: string) =>
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', name }));

  it('deletes only garbage while images are pushed, and every image pulls back whole', async () => {
    // ACR's retention policy: untagged manifests go (after the grace period here).
    const arm = new ArmClient(server);
    const patched = await arm.arm('PATCH', `${arm.registryId()}?${API}`, {
      properties: { policies: { retentionPolicy: { days: 0, status: 'enabled' } } },
    });
    expect(patched.status, patched.text).toBe(200);

    const shared = randomBytes(64 * 1024);
    // Garbage: an image deleted by digest (its own config and layer; not the shared layer),
    // a blob pushed with no manifest, an untagged manifest with a layer of its own.
    const deleted = await pushImage('gc/deleted', 'v1', [
      configBlob('deleted'),
      randomBytes(32 * 1024),
      shared,
    ]);
    const removal = await client.request('DELETE', `/v2/gc/deleted/manifests/${deleted.digest}`);
    expect(removal.status).toBe(202);
    const loose = await pushBlob('gc/loose', randomBytes(16 * 1024));
    const untaggedLayer = randomBytes(16 * 1024);
    const untagged = await pushImage('gc/untagged', 'placeholder', [
      configBlob('untagged'),
      untaggedLayer,
    ]);
    expect((await client.request('DELETE', '/v2/gc/untagged/manifests/placeholder')).status).toBe(
      202,
    );
    const garbage = [
      sha256(deleted.blobs[0]!),
      sha256(deleted.blobs[1]!),
      loose,
      sha256(untaggedLayer),
      sha256(untagged.blobs[0]!),
    ];

    // Meanwhile four clients keep pushing images (with a pause between layers and manifest)
    // until the collector, running every 0.6 s, has taken all the garbage: collection and
    // pushes overlap for at least the grace period.
    const present = async () => {
      const left: string[] = [];
      for (const digest of garbage) if (await storage.stat(digest)) left.push(digest);
      return left;
    };
    const images: Image[] = [];
    let collected = false;
    let next = 0;
    const deadline = Date.now() + 120_000;
    const worker = async () => {
      while ((!collected || next < 12) && Date.now() < deadline) {
        const i = next++;
        images.push(
          await pushImage(
            `gc/live${i % 3}`,
            `v${i}`,
            [configBlob(`live${i}`), randomBytes(48 * 1024), shared],
            (i % 4) * 200,
          ),
        );
      }
    };
    const watcher = async () => {
      while (!collected && Date.now() < deadline) {
        collected = (await present()).length === 0;
        if (!collected) await new Promise((r) => setTimeout(r, 250));
      }
    };
    await Promise.all([watcher(), worker(), worker(), worker(), worker()]);

    expect(await present(), server.output().slice(-4000)).toEqual([]);
    const gone = await client.request('GET', `/v2/gc/untagged/manifests/${untagged.digest}`, {
      headers: { Accept: MANIFEST },
    });
    expect(gone.status).toBe(404);
    expect(server.output()).toContain('"msg":"garbage collected"');

    // Every image pushed during collection pulls back whole, from the API and from storage.
    expect(images.length).toBeGreaterThanOrEqual(12);
    for (const image of images) {
      const pulled = await client.request('GET', `/v2/${image.repository}/manifests/${image.tag}`, {
        headers: { Accept: MANIFEST },
      });
      expect(pulled.status, image.tag).toBe(200);
      expect(pulled.body.equals(image.manifest)).toBe(true);
      for (const blob of image.blobs) {
        const fetched = await client.request(
          'GET',
          `/v2/${image.repository}/blobs/${sha256(blob)}`,
        );
        expect(fetched.status, `${image.tag} ${sha256(blob)}`).toBe(200);
        expect(fetched.body.equals(blob)).toBe(true);
      }
    }
    expect(await storage.stat(sha256(shared))).toBeDefined();
  }, 180_000);
});
