/**
 * What the portal reads besides the registry resource, through `inject`: `listUsages` (storage
 * used, each blob once), `repositories` and a repository's manifests with sizes and referrers,
 * `clientAddress` (the caller as the server sees it), their authorization; and the portal's
 * static files on the management listener (redirect, content types, cache and security headers).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { putIdentityOnlyGroup } from '../support/identity-host.js';
import { portalDirectory } from '../../src/server/portal.js';
import { makeImage, OCI_MANIFEST } from '../support/app.js';
import {
  ARM_SCOPE,
  armError,
  identityToken,
  json,
  newServicePrincipal,
  pushImage,
  registryId,
  REGISTRY_API,
  withApp,
} from './arm-helpers.js';

interface ManifestSummary {
  digest: string;
  tags: string[];
  imageSize: number;
  manifestSize: number;
  referrers: { digest: string; artifactType: string | null }[];
}

describe('repositories, usage and the client address through the management API', () => {
  const app = withApp();
  const url = (suffix: string) => `${registryId(app())}${suffix}?api-version=${REGISTRY_API}`;

  async function usage(): Promise<number> {
    const response = await app().arm({ method: 'GET', url: url('/listUsages') });
    expect(response.statusCode).toBe(200);
    const size = json<{ value: { name: string; currentValue: number; limit: number }[] }>(
      response,
    ).value.find((u) => u.name === 'Size')!;
    expect(size.limit).toBe(500 * 1024 ** 3); // the default registry is Premium
    return size.currentValue;
  }

  it('starts empty', async () => {
    expect(await usage()).toBe(0);
    const listed = await app().arm({ method: 'GET', url: url('/repositories') });
    expect(json(listed)).toEqual({ value: [] });
  });

  it('lists repositories and their manifests, sizes, tags and referrers', async () => {
    const first = await pushImage(app(), 'net/app', 'v1');
    await pushImage(app(), 'net/app', 'v2');
    const subject = await app().request({
      method: 'GET',
      url: `/v2/net/app/manifests/v1`,
      headers: { accept: OCI_MANIFEST },
    });
    const signature = await makeImage(app(), 'net/app', {
      layerCount: 1,
      artifactType: 'application/vnd.example.signature',
      subject: { digest: first, size: subject.rawPayload.length, mediaType: OCI_MANIFEST },
    });
    const pushed = await app().request({
      method: 'PUT',
      url: `/v2/net/app/manifests/${signature.digest}`,
      headers: { 'content-type': OCI_MANIFEST },
      payload: signature.manifest,
    });
    expect(pushed.statusCode).toBe(201);

    const listed = json<{ value: { name: string; tagCount: number; manifestCount: number }[] }>(
      await app().arm({ method: 'GET', url: url('/repositories') }),
    ).value;
    expect(listed).toEqual([
      expect.objectContaining({ name: 'net/app', tagCount: 2, manifestCount: 3 }),
    ]);

    const detail = await app().arm({ method: 'GET', url: url('/repositories/net%2Fapp') });
    expect(detail.statusCode).toBe(200);
    const manifests = json<{ manifests: ManifestSummary[] }>(detail).manifests;
    expect(manifests.map((m) => m.tags)).toEqual([[], ['v2'], ['v1']]); // newest first
    const v1 = manifests.find((m) => m.digest === first)!;
    expect(v1.referrers).toEqual([
      {
        digest: signature.digest,
        artifactType: 'application/vnd.example.signature',
        mediaType: OCI_MANIFEST,
        size: signature.manifest.length,
      },
    ]);
    expect(v1.imageSize).toBeGreaterThan(v1.manifestSize + 600);

    // Nothing is shared yet: storage is every manifest with the blobs it references.
    expect(await usage()).toBe(manifests.reduce((sum, m) => sum + m.imageSize, 0));
  });

  it('counts a blob shared by two repositories once', async () => {
    const before = await usage();
    const manifest = JSON.parse(
      (
        await app().request({
          method: 'GET',
          url: '/v2/net/app/manifests/v1',
          headers: { accept: OCI_MANIFEST },
        })
      ).body,
    ) as { layers: { digest: string }[] };
    const mounted = await app().request({
      method: 'POST',
      url: `/v2/other/blobs/uploads/?mount=${manifest.layers[0]!.digest}&from=net/app`,
    });
    expect(mounted.statusCode).toBe(201);
    expect(await usage()).toBe(before);
  });

  it('answers an unknown repository with ARM 404 in words', async () => {
    const response = await app().arm({ method: 'GET', url: url('/repositories/nope') });
    expect(response.statusCode).toBe(404);
    expect(armError(response)).toEqual({
      code: 'RepositoryNotFound',
      message: "The repository 'nope' does not exist in registry 'myregistry'.",
    });
  });

  it('tells the caller its address as the server sees it', async () => {
    const response = await app().arm({
      method: 'GET',
      url: url('/clientAddress'),
      remoteAddress: '::ffff:203.0.113.5',
    });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({ ipAddress: '203.0.113.5' });
  });

  it("shows resources' managed identities in the subscription's resource list", async () => {
    const groupId = `/subscriptions/${app().owner.subscriptionId}/resourceGroups/breakwater/providers/Microsoft.ContainerInstance/containerGroups/listed`;
    // A group's PUT deploys its images; here only its identity matters.
    const principalId = await putIdentityOnlyGroup(app().platform, groupId);
    const listed = await app().arm({
      method: 'GET',
      url: `/subscriptions/${app().owner.subscriptionId}/resources?api-version=2022-12-01`,
    });
    const group = json<{
      value: { id: string; identity?: { type: string; principalId: string } }[];
    }>(listed).value.find((r) => r.id === groupId);
    expect(group?.identity).toMatchObject({ type: 'SystemAssigned', principalId });
  });

  it('reads repository contents only from an address the registry’s network rules let in', async () => {
    const patch = (properties: Record<string, unknown>) =>
      app().arm({
        method: 'PATCH',
        url: `${registryId(app())}?api-version=${REGISTRY_API}`,
        payload: { properties },
      });
    expect((await patch({ publicNetworkAccess: 'Disabled' })).statusCode).toBe(200);
    try {
      for (const suffix of ['/repositories', '/repositories/net%2Fapp']) {
        const refused = await app().arm({
          method: 'GET',
          url: url(suffix),
          remoteAddress: '203.0.113.5',
        });
        expect(refused.statusCode).toBe(403);
        expect(armError(refused).code).toBe('RegistryNetworkAccessDenied');
        expect(armError(refused).message).toContain("Client with IP '203.0.113.5'");
      }
      // Settings (and usage) stay manageable: they are not registry contents.
      const usageNow = await app().arm({ method: 'GET', url: url('/listUsages') });
      expect(usageNow.statusCode).toBe(200);
    } finally {
      await patch({ publicNetworkAccess: 'Enabled', networkRuleSet: { defaultAction: 'Allow' } });
    }
  });

  it('refuses a principal without a role on the registry', async () => {
    const stranger = await newServicePrincipal(app(), 'portal-stranger');
    const token = await identityToken(app(), stranger.appId, stranger.secret, ARM_SCOPE);
    for (const suffix of [
      '/repositories',
      '/repositories/net%2Fapp',
      '/listUsages',
      '/clientAddress',
    ]) {
      const response = await app().management.inject({
        method: 'GET',
        url: url(suffix),
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.statusCode).toBe(403);
      expect(armError(response).code).toBe('AuthorizationFailed');
    }
  });
});

describe('the portal on the management listener', () => {
  const app = withApp();
  const built = portalDirectory();

  it('sends / to /portal/', async () => {
    const response = await app().management.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe('/portal/');
  });

  it.skipIf(!built)(
    'serves index.html revalidated and hashed assets cached for a year',
    async () => {
      const index = await app().management.inject({ method: 'GET', url: '/portal/' });
      expect(index.statusCode).toBe(200);
      expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(index.headers['cache-control']).toBe('no-cache');
      expect(index.headers['content-security-policy']).toContain("default-src 'self'");
      expect(index.body).toContain('<div id="app"></div>');

      const script = readdirSync(join(built!, 'assets')).find((f) => f.endsWith('.js'))!;
      expect(index.body).toContain(`/portal/assets/${script}`);
      const asset = await app().management.inject({
        method: 'GET',
        url: `/portal/assets/${script}`,
      });
      expect(asset.statusCode).toBe(200);
      expect(asset.headers['content-type']).toBe('application/javascript; charset=utf-8');
      expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');

      const missing = await app().management.inject({
        method: 'GET',
        url: '/portal/assets/nope.js',
      });
      expect(missing.statusCode).toBe(404);
    },
  );
});
