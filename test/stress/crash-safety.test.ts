/**
 * Crash safety: concurrent pushes while the server is SIGKILLed at random moments. After each
 * restart every acknowledged manifest is complete, every blob it references verifies against its
 * digest, and no blob is ever served with bytes that do not match its digest.
 * (The long form of this harness belongs to the hardening work; this runs a few rounds.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';

const ROUNDS = 5;
const PUSHERS = 6;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The bootstrap owner's Basic credentials (the same across restarts of one data directory). */
let authorization = '';

function authed(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization },
  });
}

interface Acknowledged {
  repository: string;
  tag: string;
  manifest: Buffer;
  blobs: string[];
}

async function pushBlob(
  base: string,
  repository: string,
  bytes: Buffer,
  chunked: boolean,
): Promise<string> {
  const digest = sha256(bytes);
  if (!chunked) {
    const response = await authed(`${base}/v2/${repository}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (response.status !== 201) throw new Error(`monolithic push: ${response.status}`);
    return digest;
  }
  const start = await authed(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  let location = start.headers.get('location')!;
  const half = Math.floor(bytes.length / 2);
  for (const [from, to] of [
    [0, half],
    [half, bytes.length],
  ] as const) {
    const patch = await authed(`${base}${location}`, {
      method: 'PATCH',
      body: bytes.subarray(from, to),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` },
    });
    if (patch.status !== 202) throw new Error(`chunk: ${patch.status}`);
    location = patch.headers.get('location')!;
  }
  const put = await authed(`${base}${location}?digest=${digest}`, { method: 'PUT' });
  if (put.status !== 201) throw new Error(`close upload: ${put.status}`);
  return digest;
}

/** Pushes images until the server dies; records what the server acknowledged. */
async function pusher(
  base: string,
  id: number,
  round: number,
  acked: Acknowledged[],
  attempted: Set<string>,
): Promise<void> {
  for (let n = 0; ; n += 1) {
    const repository = `crash/p${id}`;
    const layers = [randomBytes(200_000 + n), randomBytes(3_000_000)];
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n, round }));
    try {
      const blobs: string[] = [];
      for (const [index, bytes] of [config, ...layers].entries()) {
        attempted.add(sha256(bytes));
        blobs.push(await pushBlob(base, repository, bytes, index === 2));
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: blobs[0],
            size: config.length,
          },
          layers: layers.map((l, i) => ({
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: blobs[i + 1],
            size: l.length,
          })),
        }),
      );
      const tag = `r${round}-n${n}`;
      const response = await authed(`${base}/v2/${repository}/manifests/${tag}`, {
        method: 'PUT',
        body: manifest,
        headers: { 'content-type': OCI_MANIFEST },
      });
      if (response.status !== 201) throw new Error(`manifest: ${response.status}`);
      acked.push({ repository, tag, manifest, blobs });
    } catch {
      return; // the server went away mid-push: expected
    }
  }
}

describe('crash safety under SIGKILL', () => {
  let server: RunningServer | undefined;
  afterAll(async () => {
    if (server) {
      await server.stop();
      removeDataDir(server.dataDir);
    }
  });

  it(`keeps every acknowledged image intact across ${ROUNDS} kills`, async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    authorization = server.authHeader;
    const acked: Acknowledged[] = [];
    const attempted = new Set<string>();
    for (let round = 0; round < ROUNDS; round += 1) {
      const pushers = Array.from({ length: PUSHERS }, (_, id) =>
        pusher(server!.url, id, round, acked, attempted),
      );
      const before = acked.length;
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
      // On a loaded machine a push can outlast that delay: wait (30 s at most) until this round
      // has acknowledged an image, so every kill lands mid-push with something to verify.
      const until = Date.now() + 30_000;
      while (acked.length === before && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await server.kill();
      await Promise.all(pushers);
      server = await startServer({
        dataDir: server.dataDir,
        port: server.port,
        extraArgs: ['--log-level', 'warn'],
      });

      for (const image of acked) {
        const manifest = await authed(
          `${server.url}/v2/${image.repository}/manifests/${image.tag}`,
        );
        expect(manifest.status, `${image.repository}:${image.tag}`).toBe(200);
        expect(Buffer.from(await manifest.arrayBuffer())).toEqual(image.manifest);
        for (const digest of image.blobs) {
          const blob = await authed(`${server.url}/v2/${image.repository}/blobs/${digest}`);
          expect(blob.status).toBe(200);
          expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(digest);
        }
      }
      // Whatever was attempted but not acknowledged is either absent or whole.
      for (const digest of attempted) {
        for (let id = 0; id < PUSHERS; id += 1) {
          const blob = await authed(`${server.url}/v2/crash/p${id}/blobs/${digest}`);
          if (blob.status === 200)
            expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(digest);
          else expect(blob.status).toBe(404);
        }
      }
    }
    console.log(`crash safety: ${ROUNDS} kills, ${acked.length} acknowledged images verified`);
    expect(acked.length).toBeGreaterThan(0);
  });
});
