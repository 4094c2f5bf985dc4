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
import { ensureDefaultRegistry } from '../../src/server/bootstrap.js';
import {
  buildDataPlaneApp,
  createLogger,
  createPlatform,
  type Platform,
} from '../../src/server/server.js';

export const TEST_HOST = 'registry.test';

export interface TestApp {
  app: FastifyInstance;
  platform: Platform;
  dataDir: string;
  /** inject with the test registry's Host header. */
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function createTestApp(overrides: Partial<BreakwaterConfig> = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'breakwater-http-'));
  const config = { ...DEFAULT_CONFIG, logLevel: 'silent' as const, data: dataDir, ...overrides };
  const platform = await createPlatform(config, createLogger(config));
  await ensureDefaultRegistry(
    platform.metadata,
    config.loginServerSuffix,
    [TEST_HOST],
    platform.logger,
  );
  const app = await buildDataPlaneApp(platform);
  return {
    app,
    platform,
    dataDir,
    request: (options) =>
      app.inject({ ...options, headers: { host: TEST_HOST, ...(options.headers ?? {}) } }),
    async close() {
      await app.close();
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
