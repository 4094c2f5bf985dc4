/**
 * Soak (issue 12): a bounded mixed load on a real server — pushes, pulls that verify every
 * digest, listings (catalog, tags, ACR metadata), deletes, and registry setting changes through
 * the management API (each checked by what it changes on the very next request) — with the
 * server's resident set sampled all along.
 *
 * Asserted: every operation answers what it must (no error, no 5xx), and memory does not grow:
 * the median RSS of the last fifth of the run stays within a bound of the median after warm-up.
 * CI runs it for 60 s; the full form is 30 minutes:
 *
 *   SOAK_MINUTES=30 npx vitest run test/stress/soak.test.ts
 *
 * The figures (operations, errors, RSS at warm-up / end / peak) are printed for the record.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArmClient } from '../support/arm-client.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';

const SECONDS = process.env.SOAK_MINUTES ? Number(process.env.SOAK_MINUTES) * 60 : 60;
const MiB = 1024 * 1024;
/** How far the end-of-run median RSS may sit above the median after warm-up. */
const GROWTH_LIMIT = 64 * MiB;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const API = 'api-version=2023-07-01';

let server: RunningServer;
let arm: ArmClient;

beforeAll(async () => {
  server = await startServer({ extraArgs: ['--log-level', 'warn'] });
  arm = new ArmClient(server);
});
afterAll(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
});

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function call(path: string, init: RequestInit = {}, auth = true): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    ...init,
    headers: {
      ...(init.headers as Record<string, string>),
      ...(auth ? { authorization: server.authHeader } : {}),
    },
  });
}

function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

interface Image {
  repository: string;
  tag: string;
  digest: string;
  manifest: Buffer;
  blobs: string[];
}

class Load {
  readonly counts = new Map<string, number>();
  readonly errors: string[] = [];
  /** Images pushed and not (yet) chosen for deletion. */
  readonly live: Image[] = [];

  count(operation: string): void {
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
  }

  /** Records an answer that is not the expected one (5xx included). */
  expectStatus(operation: string, response: Response, ...wanted: number[]): boolean {
    this.count(operation);
    if (wanted.includes(response.status)) return true;
    this.errors.push(`${operation}: ${response.status}`);
    return false;
  }

  total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
}

async function push(load: Load, worker: number, n: number, shared: Buffer): Promise<void> {
  const repository = `soak/w${worker}-${n % 5}`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', worker, n }));
  const layer = randomBytes(16_384 + (n % 7) * 1024);
  for (const bytes of [config, layer, shared]) {
    const head = await call(`/v2/${repository}/blobs/${sha256(bytes)}`, { method: 'HEAD' });
    if (!load.expectStatus('blob HEAD', head, 200, 404) || head.status === 200) continue;
    const upload = await call(`/v2/${repository}/blobs/uploads/?digest=${sha256(bytes)}`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (!load.expectStatus('blob push', upload, 201)) return;
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [layer, shared].map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256(l),
        size: l.length,
      })),
    }),
  );
  const tag = `n${n}`;
  const put = await call(`/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': OCI_MANIFEST },
  });
  if (!load.expectStatus('manifest push', put, 201)) return;
  load.live.push({
    repository,
    tag,
    digest: sha256(manifest),
    manifest,
    blobs: [sha256(config), sha256(layer), sha256(shared)],
  });
}

/** Pulls a live image whole; a 404 is right only if it was deleted meanwhile. */
async function pull(
  load: Load,
  image = load.live[Math.floor(Math.random() * load.live.length)],
): Promise<void> {
  if (!image) return;
  const manifest = await call(`/v2/${image.repository}/manifests/${image.tag}`, {
    headers: { accept: OCI_MANIFEST },
  });
  const gone = () => !load.live.includes(image);
  if (manifest.status === 404 && gone()) return load.count('pull of a just-deleted image');
  if (!load.expectStatus('manifest pull', manifest, 200)) return;
  const bytes = Buffer.from(await manifest.arrayBuffer());
  if (!bytes.equals(image.manifest)) load.errors.push(`manifest ${image.digest} bytes differ`);
  for (const digest of image.blobs) {
    const blob = await call(`/v2/${image.repository}/blobs/${digest}`);
    if (!load.expectStatus('blob pull', blob, 200)) continue;
    const got = sha256(Buffer.from(await blob.arrayBuffer()));
    if (got !== digest) load.errors.push(`blob ${digest} served as ${got}`);
  }
}

async function list(load: Load): Promise<void> {
  const catalog = await call('/v2/_catalog?n=100');
  load.expectStatus('catalog', catalog, 200);
  await catalog.arrayBuffer();
  const image = load.live[Math.floor(Math.random() * load.live.length)];
  if (!image) return;
  const tags = await call(`/v2/${image.repository}/tags/list`);
  load.expectStatus('tags list', tags, 200, 404);
  await tags.arrayBuffer();
  const acrTags = await call(`/acr/v1/${image.repository}/_tags`);
  load.expectStatus('acr tags', acrTags, 200, 404);
  await acrTags.arrayBuffer();
}

/** Deletes one live image by digest (or only its tag), taking it out of the pullable set first. */
async function remove(load: Load, byTag: boolean): Promise<void> {
  if (load.live.length < 10) return;
  const [image] = load.live.splice(Math.floor(Math.random() * load.live.length), 1);
  const reference = byTag ? image!.tag : image!.digest;
  const deleted = await call(`/v2/${image!.repository}/manifests/${reference}`, {
    method: 'DELETE',
  });
  load.expectStatus(byTag ? 'tag delete' : 'manifest delete', deleted, 202);
}

/**
 * A registry setting changed through ARM, checked on the next data-plane request: anonymous
 * pull on (an unauthenticated pull succeeds) and off (it is challenged), and the resource's tags.
 */
async function changeSettings(load: Load, n: number): Promise<void> {
  const anonymous = n % 2 === 0;
  const patched = await arm.arm('PATCH', `${arm.registryId()}?${API}`, {
    tags: { soak: String(n) },
    properties: { anonymousPullEnabled: anonymous },
  });
  load.count('ARM registry PATCH');
  if (patched.status !== 200) {
    load.errors.push(`ARM registry PATCH: ${patched.status} ${patched.text.slice(0, 200)}`);
    return;
  }
  const image = load.live.at(-1);
  if (!image) return;
  const pulled = await call(
    `/v2/${image.repository}/manifests/${image.digest}`,
    { headers: { accept: OCI_MANIFEST } },
    false,
  );
  if (pulled.status === 404 && !load.live.includes(image)) return;
  load.expectStatus(
    `anonymous pull while ${anonymous ? 'on' : 'off'}`,
    pulled,
    anonymous ? 200 : 401,
  );
  await pulled.arrayBuffer();
  const read = await arm.arm('GET', `${arm.registryId()}?${API}`);
  load.count('ARM registry GET');
  const tags = (read.body as { tags?: Record<string, string> } | undefined)?.tags;
  if (read.status !== 200 || tags?.soak !== String(n)) {
    load.errors.push(`ARM registry GET: ${read.status}, tags ${JSON.stringify(tags)}`);
  }
}

describe('soak: mixed load with memory sampled', () => {
  it(
    `serves a mixed load for ${SECONDS} s with no error, no 5xx and flat memory`,
    async () => {
      const load = new Load();
      const pid = server.process.pid!;
      const started = Date.now();
      const deadline = started + SECONDS * 1000;
      const samples: Array<{ at: number; rss: number }> = [];
      const sampler = setInterval(
        () => samples.push({ at: Date.now() - started, rss: rss(pid) }),
        500,
      );
      const shared = randomBytes(64 * 1024);

      const workers = [
        // Two pushers.
        ...[0, 1].map(async (worker) => {
          for (let n = 0; Date.now() < deadline; n += 1) await push(load, worker, n, shared);
        }),
        // Two pullers.
        ...[0, 1].map(async () => {
          while (Date.now() < deadline) {
            if (load.live.length === 0) await new Promise((r) => setTimeout(r, 20));
            await pull(load);
          }
        }),
        (async () => {
          while (Date.now() < deadline) await list(load);
        })(),
        (async () => {
          for (let n = 0; Date.now() < deadline; n += 1) {
            await remove(load, n % 3 === 0);
            await new Promise((r) => setTimeout(r, 50));
          }
        })(),
        (async () => {
          for (let n = 0; Date.now() < deadline; n += 1) {
            await changeSettings(load, n);
            await new Promise((r) => setTimeout(r, 200));
          }
        })(),
      ];
      try {
        await Promise.all(workers);
      } finally {
        clearInterval(sampler);
      }
      // Everything still live is pulled whole once more.
      for (const image of [...load.live]) await pull(load, image);

      const duration = Date.now() - started;
      const warm = samples.filter((s) => s.at > duration * 0.15 && s.at <= duration * 0.35);
      const end = samples.filter((s) => s.at > duration * 0.8);
      const warmRss = median(warm.map((s) => s.rss));
      const endRss = median(end.map((s) => s.rss));
      const peak = Math.max(...samples.map((s) => s.rss));
      const operations = [...load.counts].map(([op, count]) => `${op} ${count}`).join(', ');
      console.log(
        `soak: ${(duration / 1000).toFixed(0)} s, ${load.total()} operations (${operations}); ` +
          `errors: ${load.errors.length}; RSS after warm-up ${(warmRss / MiB).toFixed(1)} MiB, ` +
          `at the end ${(endRss / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB; ` +
          `${load.live.length} live images verified at the end`,
      );
      expect(load.errors.slice(0, 20)).toEqual([]);
      expect(load.counts.get('manifest push') ?? 0).toBeGreaterThan(0);
      expect(load.counts.get('ARM registry PATCH') ?? 0).toBeGreaterThan(0);
      expect(warm.length).toBeGreaterThan(0);
      expect(endRss - warmRss).toBeLessThan(GROWTH_LIMIT);
    },
    (SECONDS + 120) * 1000,
  );
});
