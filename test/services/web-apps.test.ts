/**
 * Web apps are not a trusted service (the brief, and App Service's own documentation): a web app
 * whose container pulls with its managed identity, holding AcrPull, is refused by a registry
 * with public access disabled whether trusted services are allowed or not, and the registry's
 * audit says why; with public access enabled the same identity pulls, so the role is not what
 * refuses it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';
import { ACR_API, loginServerOf, Platform, pushBusyboxImage } from './support.js';

const WEB_API = 'api-version=2023-01-01';
const REGISTRY = 'websource';
const IMAGE = `${loginServerOf(REGISTRY)}/site:v1`;

interface Site {
  identity: { principalId: string };
  properties: { containerStatus?: { state: string; message: string } };
}

describe('web apps', () => {
  let server: RunningServer;
  let platform: Platform;
  let site: string;

  const deploy = async () => {
    const put = await platform.arm.arm('PUT', `${site}?${WEB_API}`, {
      location: 'local',
      identity: { type: 'SystemAssigned' },
      properties: {
        siteConfig: { linuxFxVersion: `DOCKER|${IMAGE}`, acrUseManagedIdentityCreds: true },
      },
    });
    expect(put.status, put.text).toBeLessThan(300);
    return put.body as Site;
  };

  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    platform = new Platform(server);
    await platform.createRegistry(REGISTRY);
    await pushBusyboxImage(platform.data(REGISTRY), 'site', 'v1', { Env: ['PATH=/bin'] });
    site = `${platform.group}/providers/Microsoft.Web/sites/web1`;
    const created = await deploy();
    await platform.assign(platform.registryId(REGISTRY), 'AcrPull', created.identity.principalId);
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  it('pulls with its AcrPull identity while the registry is public', async () => {
    expect((await deploy()).properties.containerStatus).toEqual({
      image: IMAGE,
      state: 'Pulled',
      message: `Successfully pulled image "${IMAGE}"`,
    });
  });

  for (const trustedServices of [true, false]) {
    it(`is refused by the restricted registry with trusted services ${trustedServices ? 'allowed' : 'not allowed'}`, async () => {
      await platform.setNetwork(REGISTRY, { publicAccess: false, trustedServices });
      try {
        const status = (await deploy()).properties.containerStatus!;
        expect(status.state).toBe('ImagePullFailure');
        expect(status.message).toContain('403 DENIED');
        const refused = await platform.arm.arm(
          'GET',
          `${platform.registryId(REGISTRY)}/accessDecisions?${ACR_API}&result=refused&top=5`,
        );
        const reasons = (refused.body as { value: { reason: string }[] }).value.map(
          (r) => r.reason,
        );
        expect(reasons.join('\n')).toContain(
          trustedServices
            ? 'web apps are not trusted services'
            : 'trusted services are not allowed',
        );
      } finally {
        await platform.setNetwork(REGISTRY, { publicAccess: true, trustedServices: true });
      }
    });
  }
});
