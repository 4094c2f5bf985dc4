/**
 * Scale-out: three `breakwater serve` replicas on one PostgreSQL database and one Azurite
 * container, behind Debian's HAProxy running `examples/scale-out/haproxy.cfg` (round robin),
 * each replica started with `examples/scale-out/replica.json` as a user would. Everything a
 * client does goes through the load balancer; which replica answered is read from each
 * replica's own request log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../conformance/http.js';
import { ArmClient } from '../support/arm-client.js';
import { startAzurite, type AzuriteServer } from '../support/azurite.js';
import {
  ClientSandbox,
  commandAvailable,
  describeRun,
  expectSuccess,
  run,
} from '../support/clients.js';
import {
  BUSYBOX_PATH,
  buildImageLayout,
  sampleImageSpec,
  type BuiltImage,
} from '../support/oci-layout.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import {
  freePort,
  REPO_ROOT,
  removeDataDir,
  requireClient,
  startServer,
  type RunningServer,
} from '../support/server.js';

const enabled =
  requirePostgres() &&
  requireClient('haproxy', (await run('haproxy', ['-v'])).code === 0) &&
  requireClient('skopeo', await commandAvailable('skopeo')) &&
  requireClient('busybox-static', existsSync(BUSYBOX_PATH));

const HAPROXY_CONFIG = join(REPO_ROOT, 'examples', 'scale-out', 'haproxy.cfg');
const REPLICA_CONFIG = join(REPO_ROOT, 'examples', 'scale-out', 'replica.json');
/** HAProxy connects to the replicas from here; the replicas trust forwarding from it only. */
const LB_SOURCE = '127.0.0.2';
const API = 'api-version=2023-07-01';
const SLOW = 240_000;

/** A gzipped tar of `files` (name -> content), as `az acr build` uploads a context. */
async function tarGz(files: Record<string, string>): Promise<Buffer> {
  const archive = pack();
  for (const [name, content] of Object.entries(files)) archive.entry({ name }, content);
  archive.finalize();
  return buffer(archive.pipe(createGzip()));
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

describe.skipIf(!enabled)('three replicas on PostgreSQL + Azurite behind HAProxy', () => {
  let postgres: PostgresServer;
  let azurite: AzuriteServer;
  const replicas: RunningServer[] = [];
  const managementPorts: number[] = [];
  let haproxy: ChildProcess;
  let haproxyOutput = '';
  let lbHost: string;
  let lbUrl: string;
  let client: RegistryClient;

  /** Index of each replica whose request log mentions `needle`. */
  // A replica's log reaches this process through a pipe, possibly after its answer did.
  const LOGS_ARRIVE = { timeout: 5_000, interval: 50 };
  const replicasThatServed = (needle: string) =>
    replicas.flatMap((replica, index) =>
      replica
        .output()
        .split('\n')
        .some((line) => line.includes('"msg":"request"') && line.includes(needle))
        ? [index]
        : [],
    );

  const diagnostics = () =>
    [
      `--- haproxy ---\n${haproxyOutput}`,
      ...replicas.map(
        (r, i) => `--- replica ${i + 1} (last 3000 chars) ---\n${r.output().slice(-3000)}`,
      ),
    ].join('\n');

  beforeAll(async () => {
    postgres = await startPostgres();
    azurite = await startAzurite();
    const lbPort = await freePort();
    lbHost = `127.0.0.1:${lbPort}`;
    lbUrl = `http://${lbHost}`;
    for (let i = 0; i < 3; i += 1) managementPorts.push(await freePort());
    // What differs from examples/scale-out/replica.json here: the test's own addresses.
    const env = {
      BREAKWATER_METADATA_URL: await postgres.createDatabase(),
      BREAKWATER_STORAGE: `azure://${azurite.newContainer()}`,
      BREAKWATER_STORAGE_CONNECTION_STRING: azurite.connectionString,
      BREAKWATER_TRUSTED_PROXIES: LB_SOURCE,
      BREAKWATER_ADVERTISED_HOSTS: lbHost,
      // One issuer for every replica: a token from any of them is good on all.
      BREAKWATER_MANAGEMENT_URL: `https://127.0.0.1:${managementPorts[0]}`,
      BREAKWATER_LOG_LEVEL: 'info',
    };
    const args = (i: number) => [
      '--config',
      REPLICA_CONFIG,
      '--management-listen',
      `127.0.0.1:${managementPorts[i]}`,
    ];
    // The first replica bootstraps the shared database; the others get its keys (signing and
    // sealing), TLS material and the owner's credentials, as docs/deployment.md says.
    replicas.push(await startServer({ env, extraArgs: args(0) }));
    for (let i = 1; i < 3; i += 1) {
      const dataDir = mkdtempSync(join(tmpdir(), 'breakwater-replica-'));
      for (const part of ['keys', 'tls', 'bootstrap.json']) {
        cpSync(join(replicas[0]!.dataDir, part), join(dataDir, part), { recursive: true });
      }
      replicas.push(await startServer({ dataDir, env, extraArgs: args(i) }));
    }

    haproxy = spawn('haproxy', ['-f', HAPROXY_CONFIG, '-db'], {
      env: {
        ...process.env,
        BW_LB_BIND: lbHost,
        BW_LB_SOURCE: LB_SOURCE,
        BW_REPLICA_1: replicas[0]!.host,
        BW_REPLICA_2: replicas[1]!.host,
        BW_REPLICA_3: replicas[2]!.host,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    haproxy.stdout?.on('data', (chunk: Buffer) => (haproxyOutput += chunk.toString()));
    haproxy.stderr?.on('data', (chunk: Buffer) => (haproxyOutput += chunk.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (haproxy.exitCode !== null) throw new Error(`haproxy exited:\n${haproxyOutput}`);
      const ok = await fetch(`${lbUrl}/healthz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`haproxy not ready:\n${haproxyOutput}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    client = new RegistryClient(lbUrl, {
      username: replicas[0]!.owner.clientId,
      password: replicas[0]!.owner.clientSecret,
    });
  }, 180_000);

  afterAll(async () => {
    if (haproxy && haproxy.exitCode === null) {
      haproxy.kill('SIGTERM');
      await new Promise((r) => haproxy.once('exit', r));
    }
    for (const replica of replicas) {
      await replica.stop();
      removeDataDir(replica.dataDir);
    }
    await azurite?.stop();
    await postgres?.stop();
  });

  it(
    'skopeo pushes through the load balancer, every replica taking part, and pulls the same image back',
    async () => {
      const clients = await ClientSandbox.create('breakwater-scaleout-');
      try {
        const owner = replicas[0]!.owner;
        await clients.login(lbHost, owner.clientId, owner.clientSecret);
        const layout = clients.path('layout');
        const image: BuiltImage = await buildImageLayout(
          layout,
          await sampleImageSpec('scale-out'),
          'v1',
        );
        const skopeo = async (args: string[]) =>
          expectSuccess(await clients.skopeo(args), diagnostics);
        await skopeo([
          'copy',
          '--dest-tls-verify=false',
          `oci:${layout}:v1`,
          `docker://${lbHost}/scale/app:v1`,
        ]);
        await expect
          .poll(() => replicasThatServed('/v2/scale/app/'), LOGS_ARRIVE)
          .toEqual([0, 1, 2]);

        const pulled = clients.path('pulled');
        await skopeo([
          'copy',
          '--src-tls-verify=false',
          `docker://${lbHost}/scale/app:v1`,
          `dir:${pulled}`,
        ]);
        expect(readFileSync(join(pulled, 'manifest.json'))).toEqual(image.manifestBytes);
        for (const digest of [image.configDigest, ...image.layerDigests]) {
          const bytes = readFileSync(join(pulled, digest.slice('sha256:'.length)));
          expect(sha256(bytes)).toBe(digest);
        }
      } finally {
        await clients.cleanup();
      }
    },
    SLOW,
  );

  it('takes consecutive chunks of one upload on different replicas', async () => {
    const bytes = randomBytes(6 * 64 * 1024);
    const digest = sha256(bytes);
    const started = await client.request('POST', '/v2/scale/chunked/blobs/uploads/');
    expect(started.status, diagnostics()).toBe(202);
    let location = started.headers.get('location')!;
    const uploadId = new URL(location, lbUrl).pathname.split('/').at(-1)!;
    for (let offset = 0; offset < bytes.length; offset += 64 * 1024) {
      const chunk = bytes.subarray(offset, offset + 64 * 1024);
      const patched = await client.request('PATCH', location, {
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${offset}-${offset + chunk.length - 1}`,
        },
        body: chunk,
      });
      expect(patched.status, diagnostics()).toBe(202);
      location = patched.headers.get('location')!;
    }
    const finished = await client.request('PUT', location, { query: { digest } });
    expect(finished.status, diagnostics()).toBe(201);
    await expect.poll(() => replicasThatServed(uploadId), LOGS_ARRIVE).toEqual([0, 1, 2]);
    const fetched = await client.request('GET', `/v2/scale/chunked/blobs/${digest}`);
    expect(fetched.status).toBe(200);
    expect(sha256(fetched.body)).toBe(digest);
  });

  it('applies a setting changed through one replica on all of them at the next request, judging the forwarded client address', async () => {
    const through = (index: number) =>
      new ArmClient({
        ...replicas[index]!,
        managementUrl: `https://127.0.0.1:${managementPorts[index]}`,
      });
    const configure = async (index: number, allowed: string[]) => {
      const arm = through(index);
      const response = await arm.arm('PATCH', `${arm.registryId()}?${API}`, {
        properties: {
          networkRuleSet: {
            defaultAction: allowed.length ? 'Deny' : 'Allow',
            ipRules: allowed.map((value) => ({ action: 'Allow', value })),
          },
        },
      });
      expect(response.status, response.text).toBe(200);
    };
    const pullStatuses = async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        const response = await client.request('GET', '/v2/scale/chunked/tags/list');
        statuses.push(response.status);
      }
      return statuses;
    };

    // Whatever fails, the rule is removed again: later tests pull through the same replicas.
    try {
      // Through replica 2: only an address nobody here has may pull. All three refuse at once.
      const before = replicas.map((r) => r.output().length);
      await configure(1, ['10.20.30.40']);
      expect(await pullStatuses()).toEqual([403, 403, 403]);
      const refusedBy = () =>
        replicas.flatMap((r, i) =>
          r.output().slice(before[i]).includes('"status":403') ? [i] : [],
        );
      await expect.poll(refusedBy, LOGS_ARRIVE).toEqual([0, 1, 2]);

      // Through replica 3: the client's own address (forwarded by HAProxy; the replicas' peer is
      // HAProxy at 127.0.0.2, which the rule does not allow) may pull again, on every replica.
      await configure(2, ['127.0.0.1']);
      expect(await pullStatuses()).toEqual([200, 200, 200]);
    } finally {
      await configure(0, []);
    }
  });

  it(
    'passes the OCI conformance checks through the load balancer',
    async () => {
      const result = await run(
        process.execPath,
        [
          join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs'),
          'run',
          'test/conformance/oci-conformance.test.ts',
        ],
        {
          cwd: REPO_ROOT,
          env: {
            ...process.env,
            OCI_ROOT_URL: lbUrl,
            OCI_USERNAME: replicas[0]!.owner.clientId,
            OCI_PASSWORD: replicas[0]!.owner.clientSecret,
          },
          timeoutMs: 180_000,
        },
      );
      // Without colour codes (ESC [ ... m) between the words.
      const escape = String.fromCharCode(27);
      const output = `${result.stdout}\n${result.stderr}`.replaceAll(
        new RegExp(`${escape}\\[[0-9;]*m`, 'g'),
        '',
      );
      expect(result.code, `${describeRun(result)}\n${diagnostics()}`).toBe(0);
      const passed = Number(/Tests\s+(\d+) passed/.exec(output)?.[1] ?? 0);
      // The suite ports every check of the official one: a run that skipped most is no pass.
      expect(passed, output).toBeGreaterThan(50);
      expect(output).not.toMatch(/failed/);
      await expect
        .poll(() => replicasThatServed('/v2/conformance/'), LOGS_ARRIVE)
        .toEqual([0, 1, 2]);
    },
    SLOW,
  );

  it(
    'runs a build on one replica from a source archive uploaded through another',
    async () => {
      // Each client talks to one replica's own management listener (not the shared advertised URL).
      const [uploader, scheduler, reader] = replicas.map(
        (replica, i) =>
          new ArmClient({ ...replica, managementUrl: `https://127.0.0.1:${managementPorts[i]}` }),
      );
      const registry = uploader!.registryId();
      const TASKS_API = 'api-version=2019-06-01-preview';
      const url = await uploader!.arm('POST', `${registry}/listBuildSourceUploadUrl?${TASKS_API}`);
      expect(url.status, url.text).toBe(200);
      const { uploadUrl, relativePath } = url.body as { uploadUrl: string; relativePath: string };
      const target = new URL(uploadUrl);
      const archive = await tarGz({
        Dockerfile: 'FROM scratch\nCOPY hello.txt /hello.txt\n',
        'hello.txt': 'built across replicas\n',
      });
      const put = await uploader!.arm('PUT', `${target.pathname}${target.search}`, archive);
      expect(put.status, put.text).toBe(201);

      const scheduled = await scheduler!.arm('POST', `${registry}/scheduleRun?${TASKS_API}`, {
        type: 'DockerBuildRequest',
        sourceLocation: relativePath,
        dockerFilePath: 'Dockerfile',
        imageNames: ['built/app:v1'],
        isPushEnabled: true,
        platform: { os: 'linux', architecture: 'amd64' },
      });
      expect(scheduled.status, scheduled.text).toBe(200);
      const runId = (scheduled.body as { name: string }).name;

      let status = '';
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const run = await reader!.arm('GET', `${registry}/runs/${runId}?${TASKS_API}`);
        status = String((run.body as { properties?: { status?: string } }).properties?.status);
        if (!['Queued', 'Started', 'Running'].includes(status)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(status, diagnostics()).toBe('Succeeded');
      // The archive went to replica 1's blob-store uploads; replica 2 took the run (and ran it).
      await expect.poll(() => replicasThatServed('/buildSources/'), LOGS_ARRIVE).toEqual([0]);
      await expect.poll(() => replicasThatServed('/scheduleRun'), LOGS_ARRIVE).toEqual([1]);
      const manifest = await client.request('GET', '/v2/built/app/manifests/v1', {
        headers: {
          Accept:
            'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
        },
      });
      expect(manifest.status).toBe(200);
    },
    SLOW,
  );

  it(
    'loses nothing acknowledged when a replica is killed mid-push',
    async () => {
      const acknowledged: { digest: string; bytes: Buffer }[] = [];
      let killed = false;
      const pushBlob = async (bytes: Buffer): Promise<void> => {
        const digest = sha256(bytes);
        // Like a real client: a failed upload is started again from scratch.
        for (let attempt = 0; attempt < 6; attempt += 1) {
          try {
            const started = await client.request('POST', '/v2/scale/crash/blobs/uploads/');
            if (started.status !== 202) continue;
            const done = await client.request('PUT', started.headers.get('location')!, {
              headers: { 'Content-Type': 'application/octet-stream' },
              body: bytes,
              query: { digest },
            });
            if (done.status === 201) {
              acknowledged.push({ digest, bytes });
              return;
            }
          } catch {
            // connection reset by the dying replica: try again
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`blob never acknowledged\n${diagnostics()}`);
      };
      const blobs = Array.from({ length: 40 }, () => randomBytes(256 * 1024));
      const queue = [...blobs];
      const worker = async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          await pushBlob(next);
          if (!killed && acknowledged.length >= 8) {
            killed = true;
            await replicas[2]!.kill();
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      expect(killed).toBe(true);
      expect(acknowledged).toHaveLength(40);

      // A manifest over them, pushed after the kill, is acknowledged and served too.
      const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
      await pushBlob(config);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: sha256(config),
            size: config.length,
          },
          layers: acknowledged.slice(0, 40).map((blob) => ({
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: blob.digest,
            size: blob.bytes.length,
          })),
        }),
      );
      const put = await client.request('PUT', '/v2/scale/crash/manifests/v1', {
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest,
      });
      expect(put.status, diagnostics()).toBe(201);

      for (const blob of acknowledged) {
        const fetched = await client.request('GET', `/v2/scale/crash/blobs/${blob.digest}`);
        expect(fetched.status, blob.digest).toBe(200);
        expect(fetched.body.equals(blob.bytes), blob.digest).toBe(true);
      }
      const pulled = await client.request('GET', '/v2/scale/crash/manifests/v1', {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(pulled.status).toBe(200);
      expect(pulled.body.equals(manifest)).toBe(true);
      // The blobs live in the shared storage, not on any replica's disk.
      expect(readdirSync(replicas[0]!.dataDir)).not.toContain('storage');
    },
    SLOW,
  );
});
