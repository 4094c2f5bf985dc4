/**
 * @module test/support/app
 * An in-process platform on a fresh temporary data directory, for HTTP tests through `inject`
 * (no socket). The default registry answers on host `registry.test`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { DEFAULT_CONFIG, type BreakwaterConfig } from '../../src/config/config.js';
import { bootstrapPlatform, type BootstrapCredentials } from '../../src/server/bootstrap.js';
import {
  buildDataPlaneApp,
  buildManagementApp,
  createLogger,
  createPlatform,
  type Platform,
} from '../../src/server/server.js';

export const TEST_HOST = 'registry.test';
export const TEST_MANAGEMENT_URL = 'https://management.test';

export interface TestRequestOptions extends InjectOptions {
  /** false: send no credentials; default: the bootstrap owner's Basic credentials. */
  auth?: false | string;
}

export interface TestApp {
  app: FastifyInstance;
  management: FastifyInstance;
  platform: Platform;
  dataDir: string;
  owner: BootstrapCredentials;
  /** `Basic ...` for the bootstrap owner (Owner on the subscription). */
  ownerAuth: string;
  /** inject into the data plane with the test registry's Host header (and owner credentials). */
  request(options: TestRequestOptions): Promise<LightMyRequestResponse>;
  /** inject into the management API with a bearer token for the owner. */
  arm(options: InjectOptions): Promise<LightMyRequestResponse>;
  ownerToken(): Promise<string>;
  close(): Promise<void>;
}

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export async function createTestApp(overrides: Partial<BreakwaterConfig> = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'breakwater-http-'));
  const config = { ...DEFAULT_CONFIG, logLevel: 'silent' as const, data: dataDir, ...overrides };
  const platform = await createPlatform(config, createLogger(config), TEST_MANAGEMENT_URL);
  const owner = (await bootstrapPlatform(platform, [TEST_HOST], platform.logger))!;
  const app = await buildDataPlaneApp(platform);
  const management = await buildManagementApp(platform);
  const ownerAuth = basicAuth(owner.clientId, owner.clientSecret);
  let token: string | undefined;
  const ownerToken = async () => {
    if (!token) {
      const response = await management.inject({
        method: 'POST',
        url: `/${owner.tenantId}/oauth2/v2.0/token`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: owner.clientId,
          client_secret: owner.clientSecret,
          scope: `${config.armAudience}.default`,
        }).toString(),
      });
      token = (JSON.parse(response.body) as { access_token: string }).access_token;
    }
    return token;
  };
  return {
    app,
    management,
    platform,
    dataDir,
    owner,
    ownerAuth,
    ownerToken,
    request: ({ auth, ...options }) =>
      app.inject({
        ...options,
        headers: {
          host: TEST_HOST,
          ...(auth === false ? {} : { authorization: auth ?? ownerAuth }),
          ...(options.headers ?? {}),
        },
      }),
    arm: async (options) =>
      management.inject({
        ...options,
        headers: { authorization: `Bearer ${await ownerToken()}`, ...(options.headers ?? {}) },
      }),
    async close() {
      await app.close();
      await management.close();
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function randomBlob(size = 1024): { bytes: Buffer; digest: string } {
  const bytes = randomBytes(size);
  return { bytes, digest: sha256(bytes) };
}

/** Pushes a blob monolithically (POST ?digest=) and returns its digest. */
export async function pushBlob(test: TestApp, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const response = await test.request({
    method: 'POST',
    url: `/v2/${repository}/blobs/uploads/?digest=${digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  if (response.statusCode !== 201) throw new Error(`push blob failed: ${response.body}`);
  return digest;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Pushes a config and `layerCount` layers, and returns an OCI image manifest over them. */
export async function makeImage(
  test: TestApp,
  repository: string,
  options: {
    layerCount?: number;
    subject?: { digest: string; size: number; mediaType: string };
    artifactType?: string;
  } = {},
): Promise<{ manifest: Buffer; digest: string; layers: string[]; config: string }> {
  const configBytes = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }),
  );
  const config = await pushBlob(test, repository, configBytes);
  const layers: { digest: string; size: number }[] = [];
  for (let i = 0; i < (options.layerCount ?? 2); i += 1) {
    const layer = randomBytes(512 + i);
    layers.push({ digest: await pushBlob(test, repository, layer), size: layer.length });
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(options.artifactType ? { artifactType: options.artifactType } : {}),
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config,
        size: configBytes.length,
      },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
      ...(options.subject ? { subject: options.subject } : {}),
    }),
  );
  return { manifest, digest: sha256(manifest), layers: layers.map((l) => l.digest), config };
}

export function errorCode(response: LightMyRequestResponse): string | undefined {
  try {
    return (JSON.parse(response.body) as { errors: { code: string }[] }).errors[0]?.code;
  } catch {
    return undefined;
  }
}
