/**
 * Limits and secrets (issue 12): the per-client rate limit (429 TOOMANYREQUESTS with
 * Retry-After, keyed by the address the access decision judges, so a forged X-Forwarded-For
 * buys nothing), and secrets at rest: the SQLite files are searched for every secret the
 * platform handed out (client secrets, repository token passwords, admin passwords), in every
 * encoding a careless store might use. Hashes (and the sealed admin passwords, which ACR's API
 * must be able to show again) are all that may be there.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, errorCode, type TestApp } from '../support/app.js';
import {
  json,
  newServicePrincipal,
  patchRegistry,
  REGISTRY_API,
  registryId,
} from '../http/arm-helpers.js';

describe('per-client rate limit', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp({
      rateLimitRequests: 5,
      rateLimitWindowSeconds: 3600,
      trustedProxies: ['192.0.2.0/24'],
    });
  });
  afterAll(async () => {
    await app.close();
  });

  const get = (source: string, url = '/v2/', headers: Record<string, string> = {}) =>
    app.request({ method: 'GET', url, remoteAddress: source, headers });

  it('answers 429 TOOMANYREQUESTS with Retry-After once a client spends its allowance', async () => {
    for (let i = 0; i < 5; i += 1) expect((await get('10.9.0.1')).statusCode).toBe(200);
    const refused = await get('10.9.0.1');
    expect(refused.statusCode).toBe(429);
    expect(errorCode(refused)).toBe('TOOMANYREQUESTS');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers['x-ratelimit-limit']).toBeUndefined();
    // The token endpoint is the same client's allowance.
    const token = await get('10.9.0.1', '/oauth2/token?service=registry.test');
    expect(token.statusCode).toBe(429);
  });

  it('keeps counting a client that forges X-Forwarded-For, and leaves other clients alone', async () => {
    for (let i = 0; i < 5; i += 1) await get('10.9.0.2');
    const forged = await get('10.9.0.2', '/v2/', { 'x-forwarded-for': '10.9.9.9' });
    expect(forged.statusCode).toBe(429);
    expect((await get('10.9.0.3')).statusCode).toBe(200);
  });

  it('counts the forwarded client behind a trusted proxy, not the proxy', async () => {
    for (let i = 0; i < 5; i += 1) {
      expect((await get('192.0.2.10', '/v2/', { 'x-forwarded-for': '10.9.1.1' })).statusCode).toBe(
        200,
      );
    }
    expect((await get('192.0.2.10', '/v2/', { 'x-forwarded-for': '10.9.1.1' })).statusCode).toBe(
      429,
    );
    expect((await get('192.0.2.10', '/v2/', { 'x-forwarded-for': '10.9.1.2' })).statusCode).toBe(
      200,
    );
  });

  it('never throttles health probes', async () => {
    for (let i = 0; i < 10; i += 1) {
      expect((await get('10.9.0.4', '/healthz')).statusCode).toBe(200);
    }
  });
});

describe('secrets at rest', () => {
  it('keeps no secret the platform handed out in the SQLite files', async () => {
    const app = await createTestApp();
    const secrets: string[] = [app.owner.clientSecret];
    try {
      const sp = await newServicePrincipal(app, 'at-rest');
      secrets.push(sp.secret);
      const registry = registryId(app);
      expect((await patchRegistry(app, { adminUserEnabled: true })).statusCode).toBe(200);
      const admin = await app.arm({
        method: 'POST',
        url: `${registry}/listCredentials?api-version=${REGISTRY_API}`,
      });
      expect(admin.statusCode).toBe(200);
      secrets.push(
        ...json<{ passwords: { value: string }[] }>(admin).passwords.map((p) => p.value),
      );
      const token = await app.arm({
        method: 'PUT',
        url: `${registry}/tokens/at-rest?api-version=${REGISTRY_API}`,
        payload: {
          properties: { scopeMapId: `${registry}/scopeMaps/_repositories_pull`, status: 'enabled' },
        },
      });
      expect(token.statusCode).toBeLessThan(300);
      const generated = await app.arm({
        method: 'POST',
        url: `${registry}/generateCredentials?api-version=${REGISTRY_API}`,
        payload: { tokenId: `${registry}/tokens/at-rest` },
      });
      expect(generated.statusCode).toBe(200);
      secrets.push(
        ...json<{ passwords: { value: string }[] }>(generated).passwords.map((p) => p.value),
      );
      expect(secrets.length).toBeGreaterThanOrEqual(6);
    } finally {
      // Closing checkpoints the write-ahead log into the database file.
      await app.app.close();
      await app.management.close();
      await app.platform.close();
    }
    const files = readdirSync(app.dataDir).filter((name) => name.startsWith('metadata.db'));
    expect(files).toContain('metadata.db');
    const stored = Buffer.concat(files.map((name) => readFileSync(join(app.dataDir, name))));
    rmSync(app.dataDir, { recursive: true, force: true });
    // The files are the right ones: the salted hashes are there.
    expect(stored.includes('sha256$')).toBe(true);
    for (const secret of secrets) {
      for (const encoded of [
        secret,
        Buffer.from(secret).toString('base64'),
        Buffer.from(secret).toString('base64url'),
        Buffer.from(secret).toString('hex'),
        encodeURIComponent(secret),
      ]) {
        expect(stored.includes(encoded), `a secret is stored as ${encoded.slice(0, 6)}...`).toBe(
          false,
        );
      }
    }
  });
});
