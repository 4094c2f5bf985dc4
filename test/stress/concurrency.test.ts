/**
 * Concurrency on a real server (issue 12): many clients pushing the same tag at once end with
 * one consistent manifest (one of those pushed, byte for byte, under its own digest, every blob
 * served); pushes racing manifest and tag deletes never leave a tag pointing at a manifest or
 * blob that is not served.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const CLIENTS = 16;

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ extraArgs: ['--log-level', 'warn'] });
});
afterAll(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
});

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function call(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization: server.authHeader },
  });
}

/** Pushes a config and a layer; returns the manifest over them (not yet pushed). */
async function prepareImage(repository: string, nonce: string): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce }));
  const layer = randomBytes(2048);
  for (const bytes of [config, layer]) {
    const response = await call(`/v2/${repository}/blobs/uploads/?digest=${sha256(bytes)}`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(response.status).toBe(201);
  }
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: sha256(layer),
          size: layer.length,
        },
      ],
    }),
  );
}

/** A tag is consistent: its manifest is served under its digest and all its blobs verify. */
async function expectConsistent(repository: string, tag: string): Promise<Buffer> {
  const response = await call(`/v2/${repository}/manifests/${tag}`, {
    headers: { accept: OCI_MANIFEST },
  });
  expect(response.status, `${repository}:${tag}`).toBe(200);
  const bytes = Buffer.from(await response.arrayBuffer());
  const digest = sha256(bytes);
  expect(response.headers.get('docker-content-digest')).toBe(digest);
  const byDigest = await call(`/v2/${repository}/manifests/${digest}`, {
    headers: { accept: OCI_MANIFEST },
  });
  expect(Buffer.from(await byDigest.arrayBuffer())).toEqual(bytes);
  const manifest = JSON.parse(bytes.toString()) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  for (const blob of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    const fetched = await call(`/v2/${repository}/blobs/${blob}`);
    expect(fetched.status, `${repository}:${tag} -> ${blob}`).toBe(200);
    expect(sha256(Buffer.from(await fetched.arrayBuffer()))).toBe(blob);
  }
  return bytes;
}

describe('concurrent pushes', () => {
  it(`ends ${CLIENTS} clients pushing one tag at once with one consistent manifest`, async () => {
    for (let round = 0; round < 5; round += 1) {
      const manifests = await Promise.all(
        Array.from({ length: CLIENTS }, (_, i) => prepareImage('race/same', `${round}-${i}`)),
      );
      const answers = await Promise.all(
        manifests.map((manifest) =>
          call('/v2/race/same/manifests/latest', {
            method: 'PUT',
            body: manifest,
            headers: { 'content-type': OCI_MANIFEST },
          }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
      const final = await expectConsistent('race/same', 'latest');
      expect(manifests.some((m) => m.equals(final))).toBe(true);
      const tags = (await (await call('/v2/race/same/tags/list')).json()) as { tags: string[] };
      expect(tags.tags.filter((t) => t === 'latest')).toHaveLength(1);
    }
  });

  it('never leaves a tag pointing at a missing manifest or blob when pushes race deletes', async () => {
    const repository = 'race/delete';
    const pushed: string[] = [];
    const rounds = 8;
    for (let round = 0; round < rounds; round += 1) {
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 6; i += 1) {
        const tag = `t${i % 3}`;
        work.push(
          (async () => {
            const manifest = await prepareImage(repository, `${round}-${i}`);
            const put = await call(`/v2/${repository}/manifests/${tag}`, {
              method: 'PUT',
              body: manifest,
              headers: { 'content-type': OCI_MANIFEST },
            });
            // A push may lose to nothing: its blobs were pushed just before.
            expect(put.status).toBe(201);
            pushed.push(sha256(manifest));
          })(),
        );
        // Deleters: the manifest a tag names now (by digest), and tags themselves.
        work.push(
          (async () => {
            const head = await call(`/v2/${repository}/manifests/${tag}`, {
              method: 'HEAD',
              headers: { accept: OCI_MANIFEST },
            });
            const digest = head.headers.get('docker-content-digest');
            if (head.status === 200 && digest) {
              const deleted = await call(`/v2/${repository}/manifests/${digest}`, {
                method: 'DELETE',
              });
              expect([202, 404]).toContain(deleted.status);
            }
          })(),
          (async () => {
            const deleted = await call(`/v2/${repository}/manifests/t${(i + 1) % 3}`, {
              method: 'DELETE',
            });
            expect([202, 404]).toContain(deleted.status);
          })(),
        );
      }
      await Promise.all(work);
      const list = await call(`/v2/${repository}/tags/list`);
      const tags = list.status === 200 ? ((await list.json()) as { tags: string[] }).tags : [];
      for (const tag of tags) await expectConsistent(repository, tag);
    }
    expect(pushed.length).toBe(rounds * 6);
  });
});
