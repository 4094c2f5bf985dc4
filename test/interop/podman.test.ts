/**
 * Interop: the real podman (Debian, rootful, vfs storage in a private temporary root) against the
 * real `breakwater serve`. skopeo seeds the registry from a test-built OCI layout; podman pulls,
 * lists, tags and pushes; skopeo checks what landed.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ClientSandbox,
  commandAvailable,
  expectSuccess,
  type RunResult,
} from '../support/clients.js';
import {
  BUSYBOX_PATH,
  buildImageLayout,
  buildIndexLayout,
  sampleImageSpec,
  sha256Digest,
  type BuiltImage,
  type BuiltIndex,
} from '../support/oci-layout.js';
import { requireClient } from '../support/server.js';
import {
  formatRequests,
  mountedDigests,
  startInteropRegistry,
  type InteropRegistry,
} from './harness.js';

const enabled =
  requireClient('podman', await commandAvailable('podman')) &&
  requireClient('skopeo', await commandAvailable('skopeo')) &&
  requireClient('busybox-static', existsSync(BUSYBOX_PATH));

const SLOW = { timeout: 240_000 };

interface PodmanImage {
  Id: string;
  Digest: string;
  Names?: string[] | null;
  RepoDigests?: string[] | null;
}

interface PodmanInspect {
  Id: string;
  Digest: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Os: string;
  RootFS: { Type: string; Layers: string[] };
}

function hex(digest: string): string {
  return digest.slice('sha256:'.length);
}

describe.skipIf(!enabled)('podman against breakwater', () => {
  let registry: InteropRegistry;
  let clients: ClientSandbox;
  let image: BuiltImage;
  let index: BuiltIndex;
  let sourceRepo: string;
  let indexRepo: string;

  beforeAll(async () => {
    registry = await startInteropRegistry('podman');
    clients = await ClientSandbox.create('breakwater-podman-');
    if (registry.credentials) {
      await clients.login(
        registry.host,
        registry.credentials.username,
        registry.credentials.password,
      );
    }
    const layout = clients.path('layout');
    image = await buildImageLayout(layout, await sampleImageSpec('podman-main'), 'v1');
    index = await buildIndexLayout(
      layout,
      [
        await sampleImageSpec('podman-amd64', { architecture: 'amd64', os: 'linux' }),
        await sampleImageSpec('podman-arm64', {
          architecture: 'arm64',
          os: 'linux',
          variant: 'v8',
        }),
      ],
      'multi',
    );
    sourceRepo = registry.repo('podman-src/hello');
    indexRepo = registry.repo('podman-multi/hello');
    // Seed the registry with skopeo (not under test here).
    for (const [layoutRef, repo, extra] of [
      ['v1', sourceRepo, []],
      ['multi', indexRepo, ['--all']],
    ] as const) {
      expectSuccess(
        await clients.skopeo([
          'copy',
          '--preserve-digests',
          '--dest-tls-verify=false',
          ...extra,
          `oci:${layout}:${layoutRef}`,
          `docker://${registry.host}/${repo}:v1`,
        ]),
        () => registry.diagnostics(),
      );
    }
  });

  afterAll(async () => {
    await registry?.stop();
    await clients?.cleanup();
  });

  async function podman(args: string[], sandbox = clients): Promise<RunResult> {
    return expectSuccess(await sandbox.podman(args), () => registry.diagnostics());
  }

  async function podmanInspect(name: string, sandbox = clients): Promise<PodmanInspect> {
    const result = await podman(['image', 'inspect', name], sandbox);
    const [first] = JSON.parse(result.stdout) as PodmanInspect[];
    if (!first) throw new Error(`podman image inspect ${name}: empty output`);
    return first;
  }

  test(
    'podman pull fetches the image skopeo pushed, and podman images lists it',
    SLOW,
    async () => {
      const name = `${registry.host}/${sourceRepo}:v1`;
      const pulled = await podman(['pull', '--tls-verify=false', name]);
      // podman pull prints the image ID: the config digest.
      expect(pulled.stdout.trim().split('\n').at(-1)).toBe(hex(image.configDigest));

      const table = await podman(['images']);
      const row = table.stdout
        .split('\n')
        .find((line) => line.startsWith(`${registry.host}/${sourceRepo} `));
      expect(row, table.stdout).toBeDefined();
      expect(row?.split(/\s+/).slice(0, 3)).toEqual([
        `${registry.host}/${sourceRepo}`,
        'v1',
        hex(image.configDigest).slice(0, 12),
      ]);

      const listed = JSON.parse(
        (await podman(['images', '--format', 'json'])).stdout,
      ) as PodmanImage[];
      const entry = listed.find((candidate) => candidate.Id === hex(image.configDigest));
      expect(entry, JSON.stringify(listed, null, 2)).toBeDefined();
      expect(entry?.Names).toContain(name);
      expect(entry?.Digest).toBe(image.manifestDigest);

      const details = await podmanInspect(name);
      expect(details.RepoDigests).toContain(
        `${registry.host}/${sourceRepo}@${image.manifestDigest}`,
      );
      expect(details.Architecture).toBe('amd64');
      expect(details.Os).toBe('linux');
      // The layers podman unpacked are exactly the uncompressed tars the test built.
      expect(details.RootFS.Layers).toEqual(image.diffIds);
    },
  );

  test('podman tag + push to a new repository keeps the same layers', SLOW, async () => {
    const source = `${registry.host}/${sourceRepo}:v1`;
    const destinationRepo = registry.repo('podman-dst/hello');
    const destination = `${registry.host}/${destinationRepo}:v2`;
    await podman(['pull', '--tls-verify=false', source]);

    await podman(['tag', source, destination]);
    const tagged = await podmanInspect(destination);
    expect(tagged.Id).toBe(hex(image.configDigest));
    expect(tagged.RepoTags).toEqual(expect.arrayContaining([source, destination]));

    const before = registry.proxy.requests.length;
    await podman(['push', '--tls-verify=false', destination]);
    const exchange = registry.proxy.requests.slice(before);
    const exchangeText = formatRequests(exchange);

    const raw = await expectSuccess(
      await clients.skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${destination}`]),
      () => registry.diagnostics(),
    );
    const manifest = JSON.parse(raw.stdout) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    expect(manifest.config.digest).toBe(image.configDigest);
    expect(
      manifest.layers.map((layer) => layer.digest),
      `podman re-uploaded instead of reusing the registry's layers; exchange:\n${exchangeText}`,
    ).toEqual(image.layerDigests);

    const summary = JSON.parse(
      expectSuccess(
        await clients.skopeo(['inspect', '--tls-verify=false', `docker://${destination}`]),
        () => registry.diagnostics(),
      ).stdout,
    ) as { Digest: string; Layers: string[]; RepoTags: string[] };
    expect(summary.Digest).toBe(sha256Digest(raw.stdout));
    expect(summary.Layers).toEqual(image.layerDigests);
    expect(summary.RepoTags).toEqual(['v2']);

    // podman reused the layers by mounting them from the source repository.
    expect(mountedDigests(registry, exchange, destinationRepo), exchangeText).toEqual(
      [...image.layerDigests].sort(),
    );

    // A fresh podman (empty storage) pulls what podman pushed and gets the same image.
    const fresh = await ClientSandbox.create('breakwater-podman-fresh-');
    if (registry.credentials) {
      await fresh.login(
        registry.host,
        registry.credentials.username,
        registry.credentials.password,
      );
    }
    try {
      const pulled = await podman(['pull', '--tls-verify=false', destination], fresh);
      expect(pulled.stdout.trim().split('\n').at(-1)).toBe(hex(image.configDigest));
      expect((await podmanInspect(destination, fresh)).RootFS.Layers).toEqual(image.diffIds);
    } finally {
      await fresh.cleanup();
    }
  });

  test('podman pull of a multi-arch index picks the requested platform', SLOW, async () => {
    const [amd64, arm64] = index.images;
    if (!amd64 || !arm64) throw new Error('index without two images');
    const name = `${registry.host}/${indexRepo}:v1`;

    const defaultPull = await podman(['pull', '--tls-verify=false', '--arch', 'amd64', name]);
    expect(defaultPull.stdout.trim().split('\n').at(-1)).toBe(hex(amd64.configDigest));

    const armPull = await podman([
      'pull',
      '--tls-verify=false',
      '--arch',
      'arm64',
      '--variant',
      'v8',
      name,
    ]);
    expect(armPull.stdout.trim().split('\n').at(-1)).toBe(hex(arm64.configDigest));
    const details = await podmanInspect(hex(arm64.configDigest));
    expect(details.Architecture).toBe('arm64');
    expect(details.RootFS.Layers).toEqual(arm64.diffIds);
    expect(details.RepoDigests).toContain(`${registry.host}/${indexRepo}@${index.indexDigest}`);
  });
});
