/**
 * @module test/services/support
 * What the trusted-services scenarios share, all through the real server's public interfaces:
 * registries made and restricted through ARM, principals with roles, images pushed through the
 * data endpoint (naming the registry by its login server in Host), and ARM long-running
 * operations polled until they end.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { ArmClient, type ArmResponse } from '../support/arm-client.js';
import { busyboxLayer, tarLayer } from '../support/oci-layout.js';
import { freePort, type RunningServer } from '../support/server.js';

export const ACR_API = 'api-version=2025-11-01';
export const AUTHZ_API = 'api-version=2022-04-01';
export const ROLES = {
  AcrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
  AcrPush: '8311e382-0749-4cb8-b61a-304f252e45ec',
  Importer: '577a9874-89fd-4f24-9dbd-b5034d0ad23a',
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
} as const;

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export function digestOf(bytes: string | Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function loginServerOf(name: string): string {
  return `${name}.azurecr.localhost`;
}

export interface DataAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the data endpoint for registry `loginServer` (or any host:port `endpoint`). */
export function dataRequest(
  endpoint: { host: string; port: number },
  loginServer: string,
  method: string,
  path: string,
  authorization: string | undefined,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<DataAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: endpoint.host,
        port: endpoint.port,
        method,
        path,
        headers: {
          host: loginServer,
          ...(authorization ? { authorization } : {}),
          ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface PushedImage {
  /** The index's digest (the image's top manifest). */
  digest: string;
  children: string[];
  blobs: string[];
  /** An SBOM-like artifact whose subject is the amd64 child. */
  referrer: string;
}

/**
 * Pushes `repository:tag` as an OCI index of two platform images (amd64, arm64) that share a
 * layer, plus a referrer of the amd64 image. `unique` makes the content distinct per call.
 */
export async function pushIndexImage(
  send: (
    method: string,
    path: string,
    body?: string,
    headers?: Record<string, string>,
  ) => Promise<DataAnswer>,
  repository: string,
  tag: string,
  unique: string,
): Promise<PushedImage> {
  // POST then PUT with the digest: the upload every registry serves (Distribution has no
  // single-POST upload).
  const putBlob = async (content: string): Promise<{ digest: string; size: number }> => {
    const digest = digestOf(content);
    const started = await send('POST', `/v2/${repository}/blobs/uploads/`, '');
    expect(started.status, started.body).toBe(202);
    const location = new URL(String(started.headers.location), 'http://registry.invalid');
    location.searchParams.set('digest', digest);
    const answer = await send('PUT', `${location.pathname}${location.search}`, content, {
      'content-type': 'application/octet-stream',
    });
    expect(answer.status, answer.body).toBe(201);
    return { digest, size: Buffer.byteLength(content) };
  };
  const putManifest = async (reference: string, json: unknown, mediaType: string) => {
    const bytes = JSON.stringify(json);
    const answer = await send('PUT', `/v2/${repository}/manifests/${reference}`, bytes, {
      'content-type': mediaType,
    });
    expect(answer.status, answer.body).toBe(201);
    return { digest: digestOf(bytes), size: Buffer.byteLength(bytes) };
  };
  const shared = await putBlob(`shared layer ${unique}`);
  const blobs = [shared.digest];
  const children: { digest: string; size: number; architecture: string }[] = [];
  for (const architecture of ['amd64', 'arm64']) {
    const config = await putBlob(JSON.stringify({ architecture, os: 'linux', unique }));
    const own = await putBlob(`${architecture} layer ${unique}`);
    blobs.push(config.digest, own.digest);
    const manifest = await putManifest(
      `${architecture}-${unique}`.replace(/[^\w.-]/g, '-'),
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...shared },
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...own },
        ],
      },
      OCI_MANIFEST,
    );
    children.push({ ...manifest, architecture });
  }
  const index = await putManifest(
    tag,
    {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c) => ({
        mediaType: OCI_MANIFEST,
        digest: c.digest,
        size: c.size,
        platform: { architecture: c.architecture, os: 'linux' },
      })),
    },
    OCI_INDEX,
  );
  const sbom = await putBlob(`sbom of ${unique}`);
  const empty = await putBlob('{}');
  blobs.push(sbom.digest);
  const referrer = await putManifest(
    `sbom-${unique}`.replace(/[^\w.-]/g, '-'),
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
      layers: [{ mediaType: 'application/spdx+json', ...sbom }],
      subject: { mediaType: OCI_MANIFEST, digest: children[0]!.digest, size: children[0]!.size },
    },
    OCI_MANIFEST,
  );
  return {
    digest: index.digest,
    children: children.map((c) => c.digest),
    blobs,
    referrer: referrer.digest,
  };
}

/** The platform's registries, principals and roles, through ARM as the bootstrap owner. */
export class Platform {
  readonly arm: ArmClient;
  readonly group: string;

  constructor(readonly server: RunningServer) {
    this.arm = new ArmClient(server);
    this.group = `/subscriptions/${server.owner.subscriptionId}/resourceGroups/breakwater`;
  }

  registryId(name: string): string {
    return `${this.group}/providers/Microsoft.ContainerRegistry/registries/${name}`;
  }

  async createRegistry(name: string): Promise<string> {
    const created = await this.arm.arm('PUT', `${this.registryId(name)}?${ACR_API}`, {
      location: 'local',
      sku: { name: 'Premium' },
    });
    expect(created.status, created.text).toBeLessThan(300);
    return this.registryId(name);
  }

  /** Public access on or off, trusted services allowed or not. */
  async setNetwork(
    name: string,
    settings: { publicAccess?: boolean; trustedServices?: boolean },
  ): Promise<void> {
    const properties: Record<string, unknown> = {};
    if (settings.publicAccess !== undefined) {
      properties.publicNetworkAccess = settings.publicAccess ? 'Enabled' : 'Disabled';
      properties.networkRuleSet = { defaultAction: settings.publicAccess ? 'Allow' : 'Deny' };
    }
    if (settings.trustedServices !== undefined)
      properties.networkRuleBypassOptions = settings.trustedServices ? 'AzureServices' : 'None';
    const updated = await this.arm.arm('PATCH', `${this.registryId(name)}?${ACR_API}`, {
      properties,
    });
    expect(updated.status, updated.text).toBe(200);
  }

  /** A service principal with a secret, and an ARM client that signs in as it. */
  async createPrincipal(
    displayName: string,
  ): Promise<{ id: string; appId: string; arm: ArmClient }> {
    const created = await this.arm.arm('POST', '/v1.0/servicePrincipals', { displayName });
    expect(created.status, created.text).toBe(201);
    const principal = created.body as { id: string; appId: string };
    const password = await this.arm.arm(
      'POST',
      `/v1.0/servicePrincipals/${principal.id}/addPassword`,
      {
        passwordCredential: { displayName: 'test' },
      },
    );
    const secret = (password.body as { secretText: string }).secretText;
    return { ...principal, arm: new ArmClient(this.server, principal.appId, secret) };
  }

  /** Assigns `role` to `principalId` at `scope`; returns the assignment's id (for DELETE). */
  async assign(
    scope: string,
    role: keyof typeof ROLES,
    principalId: string,
    principalType = 'ServicePrincipal',
  ): Promise<string> {
    const id = `${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}`;
    const assigned = await this.arm.arm('PUT', `${id}?${AUTHZ_API}`, {
      properties: {
        roleDefinitionId: `/subscriptions/${this.server.owner.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ROLES[role]}`,
        principalId,
        principalType,
      },
    });
    expect(assigned.status, assigned.text).toBe(201);
    return id;
  }

  async unassign(id: string): Promise<void> {
    const removed = await this.arm.arm('DELETE', `${id}?${AUTHZ_API}`);
    expect(removed.status, removed.text).toBe(200);
  }

  /** A data-plane request to registry `name` with the owner's Basic credentials. */
  data(name: string) {
    return (
      method: string,
      path: string,
      body?: string | Buffer,
      headers: Record<string, string> = {},
    ) =>
      dataRequest(
        { host: '127.0.0.1', port: this.server.port },
        loginServerOf(name),
        method,
        path,
        this.server.authHeader,
        body,
        headers,
      );
  }
}

export interface OperationOutcome {
  /** The POST's own answer (202, or an error at once). */
  accepted: ArmResponse;
  /** The final status resource, when the operation started. */
  status?: {
    status: string;
    error?: { code: string; message: string };
    properties?: Record<string, unknown>;
  };
}

/** POSTs a long-running action and polls its Azure-AsyncOperation URL until it ends. */
export async function runOperation(
  arm: ArmClient,
  path: string,
  body: unknown,
): Promise<OperationOutcome> {
  const accepted = await arm.arm('POST', path, body);
  if (accepted.status !== 202) return { accepted };
  const statusUrl = accepted.headers['azure-asyncoperation'];
  expect(statusUrl, 'Azure-AsyncOperation header').toBeTruthy();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const polled = await arm.arm(
      'GET',
      new URL(String(statusUrl)).pathname + new URL(String(statusUrl)).search,
    );
    expect(polled.status, polled.text).toBe(200);
    const status = polled.body as NonNullable<OperationOutcome['status']>;
    if (status.status !== 'InProgress') return { accepted, status };
    if (Date.now() > deadline) throw new Error('the operation did not end within a minute');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Pushes a runnable single-platform image: Debian's static busybox as its one layer (gzip'd),
 * and a config whose `Cmd` and `Env` are given. Returns the manifest digest.
 */
export async function pushBusyboxImage(
  send: (
    method: string,
    path: string,
    body?: string | Buffer,
    headers?: Record<string, string>,
  ) => Promise<DataAnswer>,
  repository: string,
  tag: string,
  runConfig: Record<string, unknown>,
): Promise<string> {
  const layer = gzipSync(await tarLayer(await busyboxLayer()));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: runConfig,
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  const blobs: { digest: string; size: number }[] = [];
  for (const content of [config, layer]) {
    const digest = digestOf(content);
    const started = await send('POST', `/v2/${repository}/blobs/uploads/`, '');
    expect(started.status, started.body).toBe(202);
    const location = new URL(String(started.headers.location), 'http://registry.invalid');
    location.searchParams.set('digest', digest);
    const put = await send('PUT', `${location.pathname}${location.search}`, content, {
      'content-type': 'application/octet-stream',
    });
    expect(put.status, put.body).toBe(201);
    blobs.push({ digest, size: content.length });
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blobs[0]! },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blobs[1]! }],
  });
  const put = await send('PUT', `/v2/${repository}/manifests/${tag}`, manifest, {
    'content-type': OCI_MANIFEST,
  });
  expect(put.status, put.body).toBe(201);
  return digestOf(manifest);
}

/** Debian's docker-registry: CNCF Distribution 2.8 (apt `docker-registry`). */
export const DISTRIBUTION = '/usr/bin/docker-registry';

/** bcrypt of `distpass` for user `distuser` (Distribution's htpasswd takes bcrypt only). */
const HTPASSWD = 'distuser:$2b$04$AaKlbqYFPrKpxxy.m3LVIOJfldE9ksMYNKAVHYBvBX2Zq.S1cAXGS\n';

export interface Distribution {
  port: number;
  /** `127.0.0.1:<port>`: its host as clients name it. */
  host: string;
  stop(): void;
}

/**
 * Starts a CNCF Distribution on a free loopback port with filesystem storage in a temporary
 * directory, anonymous or (`auth`) with htpasswd user `distuser`/`distpass`.
 */
export async function startDistribution(auth = false): Promise<Distribution> {
  const dir = mkdtempSync(join(tmpdir(), 'breakwater-distribution-'));
  const port = await freePort();
  writeFileSync(join(dir, 'htpasswd'), HTPASSWD);
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(join(dir, 'data'))}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(auth
      ? [
          'auth:',
          '  htpasswd:',
          '    realm: distribution',
          `    path: ${JSON.stringify(join(dir, 'htpasswd'))}`,
        ]
      : []),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), config);
  const child = spawn(DISTRIBUTION, ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  const stop = () => {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const answer = await dataRequest(
      { host: '127.0.0.1', port },
      host,
      'GET',
      '/v2/',
      undefined,
    ).catch(() => undefined);
    if (answer) return { port, host, stop };
    if (Date.now() > deadline) {
      stop();
      throw new Error('docker-registry did not start');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
