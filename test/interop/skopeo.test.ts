/**
 * Interop: the real skopeo (Debian) against the real `breakwater serve`. Images are built by the
 * test as OCI layouts (test/support/oci-layout.ts); every assertion is on what a skopeo user
 * sees: exit codes, printed JSON, and the bytes that land on disk.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ClientSandbox,
  commandAvailable,
  describeRun,
  expectSuccess,
  type RunResult,
} from '../support/clients.js';
import {
  BUSYBOX_PATH,
  buildImageLayout,
  buildIndexLayout,
  listBlobDigests,
  readBlob,
  resolveLayoutRef,
  sampleImageSpec,
  sha256Digest,
  type BuiltImage,
} from '../support/oci-layout.js';
import { requireClient } from '../support/server.js';
import {
  formatRequests,
  mountedDigests,
  startInteropRegistry,
  type InteropRegistry,
} from './harness.js';

const enabled =
  requireClient('skopeo', await commandAvailable('skopeo')) &&
  requireClient('busybox-static', existsSync(BUSYBOX_PATH));

const DOCKER_V2S2_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_V2S2_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_V2S2_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const SLOW = { timeout: 240_000 };

interface InspectOutput {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Architecture: string;
  Os: string;
  Labels: Record<string, string> | null;
  Layers: string[];
}

interface ManifestJson {
  mediaType?: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number }[];
}

describe.skipIf(!enabled)('skopeo against breakwater', () => {
  let registry: InteropRegistry;
  let clients: ClientSandbox;
  let layout: string;
  let image: BuiltImage;
  let other: BuiltImage;

  beforeAll(async () => {
    registry = await startInteropRegistry('skopeo');
    clients = await ClientSandbox.create('breakwater-skopeo-');
    if (registry.credentials) {
      await clients.login(
        registry.host,
        registry.credentials.username,
        registry.credentials.password,
      );
    }
    layout = clients.path('layout');
    image = await buildImageLayout(layout, await sampleImageSpec('skopeo-main'), 'v1');
    other = await buildImageLayout(layout, await sampleImageSpec('skopeo-other'), 'other');
  });

  afterAll(async () => {
    await registry?.stop();
    await clients?.cleanup();
  });

  /** skopeo that must succeed; failures carry the server log and HTTP exchange. */
  async function skopeo(args: string[]): Promise<RunResult> {
    return expectSuccess(await clients.skopeo(args), () => registry.diagnostics());
  }

  /** skopeo whose outcome the test checks itself. */
  function skopeoRaw(args: string[]): Promise<RunResult> {
    return clients.skopeo(args);
  }

  function ref(repo: string, tagOrDigest: string): string {
    const separator = tagOrDigest.startsWith('sha256:') ? '@' : ':';
    return `docker://${registry.host}/${repo}${separator}${tagOrDigest}`;
  }

  async function push(layoutRef: string, repo: string, tag: string, extra: string[] = []) {
    return skopeo([
      'copy',
      '--dest-tls-verify=false',
      ...extra,
      `oci:${layout}:${layoutRef}`,
      ref(repo, tag),
    ]);
  }

  async function inspect(target: string, extra: string[] = []): Promise<InspectOutput> {
    const result = await skopeo(['inspect', '--tls-verify=false', ...extra, target]);
    return JSON.parse(result.stdout) as InspectOutput;
  }

  function failureText(result: RunResult): string {
    return `${describeRun(result)}\n${registry.diagnostics()}`;
  }

  /** Asserts every blob of `digests` in layout `dir` is byte-identical to the source layout's. */
  async function expectSameBlobs(dir: string, digests: string[]) {
    for (const digest of digests) {
      const copied = await readBlob(dir, digest);
      expect(sha256Digest(copied), `blob ${digest} in ${dir}`).toBe(digest);
      expect(copied.equals(await readBlob(layout, digest)), `blob ${digest} bytes`).toBe(true);
    }
  }

  test(
    'copies a 3-layer OCI image into the registry and back out with every digest unchanged',
    SLOW,
    async () => {
      const repo = registry.repo('roundtrip/hello');
      await push('v1', repo, 'v1', ['--preserve-digests']);

      const out = clients.path('roundtrip-out');
      await skopeo([
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        ref(repo, 'v1'),
        `oci:${out}:v1`,
      ]);

      const descriptor = await resolveLayoutRef(out, 'v1');
      expect(descriptor.digest).toBe(image.manifestDigest);
      expect(descriptor.size).toBe(image.manifestSize);
      const manifestBytes = await readBlob(out, image.manifestDigest);
      expect(manifestBytes.toString()).toBe(image.manifestBytes.toString());
      const manifest = JSON.parse(manifestBytes.toString()) as ManifestJson;
      expect(manifest.config.digest).toBe(image.configDigest);
      expect(manifest.layers.map((layer) => layer.digest)).toEqual(image.layerDigests);
      expect(image.layerDigests).toHaveLength(3);

      expect(await listBlobDigests(out)).toEqual([...image.blobDigests].sort());
      await expectSameBlobs(out, image.blobDigests);
    },
  );

  test('skopeo inspect shows the raw manifest, the digests and the config', SLOW, async () => {
    const repo = registry.repo('inspect/hello');
    await push('v1', repo, 'v1', ['--preserve-digests']);

    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', ref(repo, 'v1')]);
    expect(raw.stdout).toBe(image.manifestBytes.toString());

    const summary = await inspect(ref(repo, 'v1'));
    expect(summary.Name).toBe(`${registry.host}/${repo}`);
    expect(summary.Digest).toBe(image.manifestDigest);
    expect(summary.RepoTags).toEqual(['v1']);
    expect(summary.Architecture).toBe('amd64');
    expect(summary.Os).toBe('linux');
    expect(summary.Layers).toEqual(image.layerDigests);
    expect(summary.Labels).toEqual({ 'org.example.flavor': 'skopeo-main' });

    const config = await skopeo([
      'inspect',
      '--config',
      '--raw',
      '--tls-verify=false',
      ref(repo, 'v1'),
    ]);
    expect(sha256Digest(config.stdout)).toBe(image.configDigest);
    expect(config.stdout).toBe(image.configBytes.toString());

    const byDigest = await inspect(ref(repo, image.manifestDigest));
    expect(byDigest.Digest).toBe(image.manifestDigest);
    expect(byDigest.Layers).toEqual(image.layerDigests);
  });

  test('skopeo list-tags lists every tag of a repository in lexical order', SLOW, async () => {
    const repo = registry.repo('tags/hello');
    for (const tag of ['v2', 'latest', 'v1']) await push('v1', repo, tag);
    await push('other', repo, '1.0.0');

    const result = await skopeo([
      'list-tags',
      '--tls-verify=false',
      `docker://${registry.host}/${repo}`,
    ]);
    const listed = JSON.parse(result.stdout) as { Repository: string; Tags: string[] };
    expect(listed.Repository).toBe(`${registry.host}/${repo}`);
    expect(listed.Tags).toEqual(['1.0.0', 'latest', 'v1', 'v2']);

    // The tags point at what was pushed.
    expect((await inspect(ref(repo, 'latest'))).Digest).toBe(image.manifestDigest);
    expect((await inspect(ref(repo, '1.0.0'))).Digest).toBe(other.manifestDigest);
  });

  test(
    'skopeo delete removes the manifest: inspect then fails with manifest unknown',
    SLOW,
    async () => {
      const repo = registry.repo('delete/hello');
      await push('v1', repo, 'v1');
      await push('other', repo, 'keep');

      const deleted = await skopeoRaw(['delete', '--tls-verify=false', ref(repo, 'v1')]);
      expect(deleted.code, failureText(deleted)).toBe(0);

      for (const target of [ref(repo, 'v1'), ref(repo, image.manifestDigest)]) {
        const gone = await skopeoRaw(['inspect', '--tls-verify=false', target]);
        expect(gone.code, failureText(gone)).not.toBe(0);
        expect(gone.stderr, failureText(gone)).toMatch(/manifest unknown/i);
      }

      // The other image in the repository is untouched, and only its tag is left.
      expect((await inspect(ref(repo, 'keep'))).Digest).toBe(other.manifestDigest);
      const tags = await skopeo([
        'list-tags',
        '--tls-verify=false',
        `docker://${registry.host}/${repo}`,
      ]);
      expect((JSON.parse(tags.stdout) as { Tags: string[] }).Tags).toEqual(['keep']);
    },
  );

  test(
    'refuses to delete a blob a manifest references: the tagged image still pulls whole',
    SLOW,
    async () => {
      const repo = registry.repo('blobdelete/hello');
      await push('v1', repo, 'v1', ['--preserve-digests']);
      const headers: Record<string, string> = registry.credentials
        ? {
            authorization: `Basic ${Buffer.from(`${registry.credentials.username}:${registry.credentials.password}`).toString('base64')}`,
          }
        : {};
      const deleteBlob = (digest: string) =>
        fetch(`http://${registry.host}/v2/${repo}/blobs/${digest}`, { method: 'DELETE', headers });

      // Every blob of the tagged image: the delete is refused with an OCI error naming the
      // manifest, and nothing changes.
      for (const digest of [image.configDigest, ...image.layerDigests]) {
        const refused = await deleteBlob(digest);
        expect(refused.status, registry.diagnostics()).toBe(405);
        const body = (await refused.json()) as { errors: { code: string; message: string }[] };
        expect(body.errors[0]!.code).toBe('UNSUPPORTED');
        expect(body.errors[0]!.message).toContain(image.manifestDigest);
      }
      const out = clients.path('blobdelete-out');
      await skopeo([
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        ref(repo, 'v1'),
        `oci:${out}:v1`,
      ]);
      expect((await resolveLayoutRef(out, 'v1')).digest).toBe(image.manifestDigest);
      await expectSameBlobs(out, image.blobDigests);

      // Once the manifest is gone, its blobs may go too (202), and then they are unknown (404).
      expect((await skopeoRaw(['delete', '--tls-verify=false', ref(repo, 'v1')])).code).toBe(0);
      expect((await deleteBlob(image.layerDigests[0]!)).status).toBe(202);
      expect((await deleteBlob(image.layerDigests[0]!)).status).toBe(404);
    },
  );

  test('copies a multi-arch image index with --all, keeping every digest', SLOW, async () => {
    const indexLayout = clients.path('index-layout');
    const built = await buildIndexLayout(
      indexLayout,
      [
        await sampleImageSpec('index-amd64', { architecture: 'amd64', os: 'linux' }),
        await sampleImageSpec('index-arm64', { architecture: 'arm64', os: 'linux', variant: 'v8' }),
      ],
      'v1',
    );
    const [amd64, arm64] = built.images;
    if (!amd64 || !arm64) throw new Error('index without two images');
    const repo = registry.repo('multiarch/hello');

    await skopeo([
      'copy',
      '--all',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `oci:${indexLayout}:v1`,
      ref(repo, 'v1'),
    ]);

    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', ref(repo, 'v1')]);
    expect(raw.stdout).toBe(built.indexBytes.toString());

    for (const platformImage of [amd64, arm64]) {
      const { architecture, variant } = platformImage.platform;
      const summary = await inspect(ref(repo, 'v1'), [
        '--override-os',
        'linux',
        '--override-arch',
        architecture,
        ...(variant ? ['--override-variant', variant] : []),
      ]);
      expect(summary.Digest).toBe(built.indexDigest);
      expect(summary.Architecture).toBe(architecture);
      expect(summary.Layers).toEqual(platformImage.layerDigests);

      const child = await skopeo([
        'inspect',
        '--raw',
        '--tls-verify=false',
        ref(repo, platformImage.manifestDigest),
      ]);
      expect(child.stdout).toBe(platformImage.manifestBytes.toString());
    }

    const out = clients.path('index-out');
    await skopeo([
      'copy',
      '--all',
      '--preserve-digests',
      '--src-tls-verify=false',
      ref(repo, 'v1'),
      `oci:${out}:v1`,
    ]);
    expect((await resolveLayoutRef(out, 'v1')).digest).toBe(built.indexDigest);
    const uniqueBlobs = [...new Set(built.blobDigests)].sort();
    expect(await listBlobDigests(out)).toEqual(uniqueBlobs);
    for (const digest of uniqueBlobs) {
      expect((await readBlob(out, digest)).equals(await readBlob(indexLayout, digest))).toBe(true);
    }
  });

  test('copies between two repositories using cross-repository blob mounts', SLOW, async () => {
    const source = registry.repo('mount-src/app');
    const destination = registry.repo('mount-dst/app');
    await push('v1', source, 'v1', ['--preserve-digests']);

    const before = registry.proxy.requests.length;
    await skopeo([
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      ref(source, 'v1'),
      ref(destination, 'v1'),
    ]);
    const exchange = registry.proxy.requests.slice(before);
    const exchangeText = formatRequests(exchange);

    // Every layer was mounted from another repository (201 Created), none uploaded again.
    expect(
      mountedDigests(registry, exchange, destination),
      `expected a 201 cross-repository mount of every layer into ${destination}; exchange:\n${exchangeText}\n${registry.diagnostics()}`,
    ).toEqual([...image.layerDigests].sort());
    const uploadedLayers = exchange.filter(
      (r) =>
        r.method === 'PUT' &&
        r.url.includes('/blobs/uploads/') &&
        image.layerDigests.some((digest) => decodeURIComponent(r.url).includes(digest)),
    );
    expect(uploadedLayers, exchangeText).toEqual([]);

    const summary = await inspect(ref(destination, 'v1'));
    expect(summary.Digest).toBe(image.manifestDigest);
    expect(summary.Layers).toEqual(image.layerDigests);

    // The mounted blobs are really served from the destination repository.
    const out = clients.path('mount-out');
    const beforePull = registry.proxy.requests.length;
    await skopeo([
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      ref(destination, 'v1'),
      `oci:${out}:v1`,
    ]);
    const served = registry.proxy.requests
      .slice(beforePull)
      .filter((r) => r.method === 'GET' && r.status === 200)
      .map((r) => r.url);
    for (const digest of image.layerDigests) {
      expect(served, formatRequests(registry.proxy.requests.slice(beforePull))).toContain(
        `/v2/${destination}/blobs/${digest}`,
      );
    }
    await expectSameBlobs(out, image.blobDigests);
  });

  test('round-trips an image in Docker v2s2 format', SLOW, async () => {
    // What skopeo makes of the OCI image as v2s2, converted locally: the expected manifest.
    const local = clients.path('v2s2-local');
    await skopeo(['copy', '--format', 'v2s2', `oci:${layout}:v1`, `dir:${local}`]);
    const expected = await readFile(join(local, 'manifest.json'));
    const expectedDigest = sha256Digest(expected);
    const converted = JSON.parse(expected.toString()) as ManifestJson;
    expect(converted.mediaType).toBe(DOCKER_V2S2_MANIFEST);
    expect(converted.config).toMatchObject({
      mediaType: DOCKER_V2S2_CONFIG,
      digest: image.configDigest,
    });
    expect(converted.layers.map((layer) => layer.mediaType)).toEqual(
      image.layerDigests.map(() => DOCKER_V2S2_LAYER),
    );

    const repo = registry.repo('v2s2/hello');
    await push('v1', repo, 'v1', ['--format', 'v2s2']);

    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', ref(repo, 'v1')]);
    expect(raw.stdout).toBe(expected.toString());
    const summary = await inspect(ref(repo, 'v1'));
    expect(summary.Digest).toBe(expectedDigest);
    expect(summary.Layers).toEqual(image.layerDigests);
    expect(summary.Architecture).toBe('amd64');

    // The registry labels it as a Docker manifest (what Docker clients rely on).
    const response = await fetch(`http://${registry.host}/v2/${repo}/manifests/v1`, {
      method: 'HEAD',
      headers: {
        accept: `${DOCKER_V2S2_MANIFEST}, application/vnd.oci.image.manifest.v1+json`,
        ...(registry.credentials
          ? {
              authorization: `Basic ${Buffer.from(`${registry.credentials.username}:${registry.credentials.password}`).toString('base64')}`,
            }
          : {}),
      },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(DOCKER_V2S2_MANIFEST);
    expect(response.headers.get('docker-content-digest')).toBe(expectedDigest);

    // And back out, byte for byte.
    const pulled = clients.path('v2s2-pulled');
    await skopeo([
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      ref(repo, 'v1'),
      `dir:${pulled}`,
    ]);
    const pulledManifest = await readFile(join(pulled, 'manifest.json'));
    expect(pulledManifest.equals(expected)).toBe(true);
    for (const digest of [image.configDigest, ...image.layerDigests]) {
      const hex = digest.slice('sha256:'.length);
      const blob = await readFile(join(pulled, hex));
      expect(blob.equals(await readBlob(layout, digest)), `blob ${digest}`).toBe(true);
    }

    // Pushed again by digest-preserving copy to another repository: same manifest digest.
    const again = registry.repo('v2s2/again');
    await skopeo([
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `dir:${pulled}`,
      ref(again, 'v1'),
    ]);
    expect((await inspect(ref(again, 'v1'))).Digest).toBe(expectedDigest);
  });
});
