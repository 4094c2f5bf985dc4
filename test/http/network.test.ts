/**
 * Stage 1 of the access decision on the public endpoint: IP rules (IPv4 and IPv6), public
 * network access, the trusted-services bypass for managed identities of trusted resource types,
 * and forwarded addresses believed only from trusted proxies. A table of (settings, source,
 * credential) rows asserts status, error code and the audit reason of each decision.
 */
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryTokens } from '../../src/access/index.js';
import { SigningKeys } from '../../src/identity/index.js';
import { createTestApp, errorCode, type TestApp } from '../support/app.js';
import { putIdentityOnlyGroup } from '../support/identity-host.js';
import {
  ACR_AUDIENCE,
  assignRole,
  ROLE_IDS,
  json,
  LOGIN_SERVER,
  NULL_GUID,
  patchRegistry,
  pushImage,
  registryId,
} from './arm-helpers.js';

const GROUP_API = 'api-version=2023-05-01';
const OUTSIDE = '203.0.113.7';
const ALLOWED = '10.1.2.3';

let app: TestApp;
let audit: Array<Record<string, unknown>>;

beforeAll(async () => {
  app = await createTestApp({ trustedProxies: ['192.0.2.0/24'] });
  // Capture the audit lines the decider logs.
  audit = [];
  const logger = app.platform.logger;
  const info = logger.info.bind(logger);
  logger.level = 'info';
  (logger as unknown as { info: (...args: unknown[]) => void }).info = (...args: unknown[]) => {
    const first = args[0] as { audit?: Record<string, unknown> } | undefined;
    if (first?.audit) audit.push(first.audit);
    return info(...(args as [object, string]));
  };
  await pushImage(app, 'net/app', 'v1');
});
afterAll(async () => {
  await app.close();
});

function pull(
  source: string,
  auth: string | false,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return app.request({
    method: 'GET',
    url: '/v2/net/app/manifests/v1',
    auth,
    remoteAddress: source,
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json', ...headers },
  });
}

async function lastAudit(): Promise<Record<string, unknown>> {
  return audit.at(-1)!;
}

/** A resource of `type` in group `breakwater` with a system-assigned identity holding `role`. */
async function hostWithIdentity(
  type: string,
  name: string,
  role?: 'AcrPull',
): Promise<{ id: string; principalId: string }> {
  const id = `/subscriptions/${app.owner.subscriptionId}/resourceGroups/breakwater/providers/${type}/${name}`;
  if (type === 'Microsoft.ContainerInstance/containerGroups') {
    const principalId = await putIdentityOnlyGroup(app.platform, id);
    if (role) await assignRole(app, registryId(app), principalId, role);
    return { id, principalId };
  }
  const created = await app.arm({
    method: 'PUT',
    url: `${id}?${GROUP_API}`,
    payload: { location: 'local', identity: { type: 'SystemAssigned' }, properties: {} },
  });
  expect(created.statusCode).toBe(201);
  const principalId = json<{ identity: { principalId: string } }>(created).identity.principalId;
  if (role) await assignRole(app, registryId(app), principalId, role);
  return { id, principalId };
}

/** What a platform service hosting `resourceId` does: MI token -> exchange -> refresh token. */
async function trustedRefreshToken(
  resourceId: string,
  source: string,
): Promise<LightMyRequestResponse> {
  const { token } = await app.platform.identity.managedIdentityToken(
    resourceId,
    'system',
    ACR_AUDIENCE,
  );
  return app.request({
    method: 'POST',
    url: '/oauth2/exchange',
    auth: false,
    remoteAddress: source,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      grant_type: 'access_token',
      service: LOGIN_SERVER,
      tenant: app.owner.tenantId,
      access_token: token,
    }).toString(),
  });
}

const basicRefresh = (refresh: string) =>
  `Basic ${Buffer.from(`${NULL_GUID}:${refresh}`).toString('base64')}`;

describe('IP rules on the public endpoint', () => {
  beforeAll(async () => {
    const patched = await patchRegistry(app, {
      networkRuleSet: {
        defaultAction: 'Deny',
        ipRules: [
          { action: 'Allow', value: '10.1.0.0/16' },
          { action: 'Allow', value: '2001:db8::/32' },
        ],
      },
    });
    expect(patched.statusCode).toBe(200);
  });

  it.each([
    [ALLOWED, 200, 'network: ip rule 10.1.0.0/16'],
    [`::ffff:${ALLOWED}`, 200, 'network: ip rule 10.1.0.0/16'],
    ['2001:db8:5::1', 200, 'network: ip rule 2001:db8::/32'],
    [OUTSIDE, 403, `network: no ip rule matches ${OUTSIDE}`],
    ['2001:db9::1', 403, 'network: no ip rule matches 2001:db9::1'],
  ])('a client at %s gets %i', async (source, status, reason) => {
    const response = await pull(source, app.ownerAuth);
    expect(response.statusCode).toBe(status);
    expect(String((await lastAudit()).reason)).toContain(reason);
    if (status === 403) {
      expect(errorCode(response)).toBe('DENIED');
      expect(JSON.parse(response.body).errors[0].message).toBe(
        `client with IP '${source.replace('::ffff:', '')}' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.`,
      );
    }
  });

  it('answers the network before any 401: no credential from outside is 403, not a challenge', async () => {
    const response = await pull(OUTSIDE, false);
    expect(response.statusCode).toBe(403);
    expect(response.headers['www-authenticate']).toBeUndefined();
    const token = await app.request({
      method: 'GET',
      url: `/oauth2/token?service=${LOGIN_SERVER}&scope=repository:net/app:pull`,
      remoteAddress: OUTSIDE,
    });
    expect(token.statusCode).toBe(403);
    // From inside, no credential is the usual 401 challenge.
    expect((await pull(ALLOWED, false)).statusCode).toBe(401);
  });

  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    expect((await pull(OUTSIDE, app.ownerAuth, { 'x-forwarded-for': ALLOWED })).statusCode).toBe(
      403,
    );
    expect(
      (await pull('192.0.2.10', app.ownerAuth, { 'x-forwarded-for': ALLOWED })).statusCode,
    ).toBe(200);
    expect(
      (await pull('192.0.2.10', app.ownerAuth, { 'x-forwarded-for': OUTSIDE })).statusCode,
    ).toBe(403);
  });

  it('applies a change to the very next request', async () => {
    await patchRegistry(app, {
      networkRuleSet: {
        defaultAction: 'Deny',
        ipRules: [{ action: 'Allow', value: `${OUTSIDE}` }],
      },
    });
    expect((await pull(OUTSIDE, app.ownerAuth)).statusCode).toBe(200);
    expect((await pull(ALLOWED, app.ownerAuth)).statusCode).toBe(403);
    await patchRegistry(app, { networkRuleSet: { defaultAction: 'Allow', ipRules: [] } });
    expect((await pull(ALLOWED, app.ownerAuth)).statusCode).toBe(200);
  });
});

describe('public network access disabled, and the trusted-services bypass', () => {
  let group: { id: string };
  let workspace: { id: string };
  let webApp: { id: string };
  let noRole: { id: string };
  let task: { id: string };

  beforeAll(async () => {
    group = await hostWithIdentity('Microsoft.ContainerInstance/containerGroups', 'cg1', 'AcrPull');
    workspace = await hostWithIdentity(
      'Microsoft.MachineLearningServices/workspaces',
      'ml1',
      'AcrPull',
    );
    webApp = await hostWithIdentity('Microsoft.Web/sites', 'web1', 'AcrPull');
    noRole = await hostWithIdentity('Microsoft.ContainerInstance/containerGroups', 'cg-norole');
    const taskId = `${registryId(app)}/tasks/build1`;
    const created = await app.arm({
      method: 'PUT',
      url: `${taskId}?api-version=2019-06-01-preview`,
      payload: {
        identity: { type: 'SystemAssigned' },
        properties: {
          platform: { os: 'Linux' },
          step: { type: 'Docker', dockerFilePath: 'Dockerfile', imageNames: ['app:v1'] },
        },
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    await assignRole(
      app,
      registryId(app),
      json<{ identity: { principalId: string } }>(created).identity.principalId,
      'AcrPull',
    );
    task = { id: taskId };
    expect((await patchRegistry(app, { publicNetworkAccess: 'Disabled' })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await patchRegistry(app, {
      publicNetworkAccess: 'Enabled',
      networkRuleBypassOptions: 'AzureServices',
    });
  });

  it('refuses everyone else on the public endpoint, owner included, with its own message', async () => {
    const response = await pull(ALLOWED, app.ownerAuth);
    expect(response.statusCode).toBe(403);
    expect(JSON.parse(response.body).errors[0].message).toContain(
      'public network access to this registry is disabled',
    );
    expect(String((await lastAudit()).reason)).toContain('network: public network access disabled');
  });

  it.each([
    ['container group', () => group.id],
    ['ML workspace', () => workspace.id],
    ['registry task', () => task.id],
  ])('lets a %s identity with AcrPull in while trusted services are allowed', async (kind, id) => {
    const exchanged = await trustedRefreshToken(id(), OUTSIDE);
    expect(exchanged.statusCode).toBe(200);
    const auth = basicRefresh(json<{ refresh_token: string }>(exchanged).refresh_token);
    expect((await pull(OUTSIDE, auth)).statusCode).toBe(200);
    expect(String((await lastAudit()).reason)).toContain(
      `network: trusted-service bypass (${kind} ${id()})`,
    );
    expect(String((await lastAudit()).reason)).toContain('AcrPull via role assignment');
  });

  it('still applies the role check through the bypass', async () => {
    const exchanged = await trustedRefreshToken(group.id, OUTSIDE);
    expect(exchanged.statusCode).toBe(200);
    const response = await app.request({
      method: 'POST',
      url: '/v2/net/app/blobs/uploads/',
      auth: basicRefresh(json<{ refresh_token: string }>(exchanged).refresh_token),
      remoteAddress: OUTSIDE,
    });
    expect(response.statusCode).toBe(403);
    expect(String((await lastAudit()).reason)).toMatch(
      /network: trusted-service bypass.*authz: .* may not push/,
    );
  });

  it('refuses a trusted service identity that holds no role on the registry at the network stage', async () => {
    const exchanged = await trustedRefreshToken(noRole.id, OUTSIDE);
    expect(exchanged.statusCode).toBe(403);
    expect(errorCode(exchanged)).toBe('DENIED');
    expect(String((await lastAudit()).reason)).toContain(
      'the managed identity holds no role assignment on the registry',
    );
  });

  describe("a trusted service's identity from another tenant", () => {
    const tenant2 = '3f3f3f3f-0000-4000-8000-000000000003';
    const subscription2 = '3f3f3f3f-0000-4000-8000-0000000000a3';
    const foreignCg = `/subscriptions/${subscription2}/resourceGroups/elsewhere/providers/Microsoft.ContainerInstance/containerGroups/cg`;
    let foreignToken: string;
    let forgedRefresh: string;

    beforeAll(async () => {
      const { controlPlane, identity } = app.platform;
      await controlPlane.createTenant({ id: tenant2, displayName: 'Elsewhere' });
      await controlPlane.createSubscription({
        id: subscription2,
        tenantId: tenant2,
        displayName: 'Elsewhere',
        state: 'Enabled',
      });
      await controlPlane.putResource({
        id: foreignCg,
        type: 'Microsoft.ContainerInstance/containerGroups',
        subscriptionId: subscription2,
        resourceGroup: 'elsewhere',
        name: 'cg',
        location: 'local',
        tags: {},
        sku: null,
        identity: { type: 'SystemAssigned' },
        properties: {},
        systemData: null,
      });
      const principal = await identity.ensureSystemAssignedIdentity(tenant2, foreignCg, 'cg');
      // Even holding AcrPull on the registry (written straight into the store: the point is
      // that the tenant alone keeps it out), it is not the owner's service instance.
      await controlPlane.createRoleAssignment({
        name: '3f3f3f3f-0000-4000-8000-0000000000b3',
        scope: registryId(app),
        roleDefinitionId: ROLE_IDS.AcrPull,
        principalId: principal.objectId,
        principalType: 'ServicePrincipal',
        condition: null,
        conditionVersion: null,
        description: null,
        createdBy: null,
      });
      foreignToken = (await identity.managedIdentityToken(foreignCg, 'system', ACR_AUDIENCE)).token;
      // A refresh token as the exchange would have issued it before the tenant rule.
      const keys = await SigningKeys.open(join(app.dataDir, 'keys'), 'registry');
      forgedRefresh = await new RegistryTokens(keys).refreshToken(
        { kind: 'aad', id: principal.objectId, tenant: tenant2, usingResource: foreignCg },
        LOGIN_SERVER,
      );
    });

    const exchangeAs = (token: string, tenant: string) =>
      app.request({
        method: 'POST',
        url: '/oauth2/exchange',
        auth: false,
        remoteAddress: OUTSIDE,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'access_token',
          service: LOGIN_SERVER,
          tenant,
          access_token: token,
        }).toString(),
      });

    it.each([
      ['GET', '/v2/'],
      ['GET', '/v2/net/app/manifests/v1'],
      ['GET', '/acr/v1/_checkaccess?repository=net/app&action=pull'],
    ])('refuses %s %s at the network stage with the tenant as the reason', async (method, url) => {
      const response = await app.request({
        method: method as 'GET',
        url,
        auth: basicRefresh(forgedRefresh),
        remoteAddress: OUTSIDE,
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(response.statusCode).toBe(403);
      expect(errorCode(response)).toBe('DENIED');
      const reason = String((await lastAudit()).reason);
      expect(reason).toContain('network: public network access disabled');
      expect(reason).toContain(`belongs to tenant ${tenant2}, not the registry's tenant`);
    });

    it('gets no refresh token from the exchange on a restricted registry, whatever tenant it names', async () => {
      for (const tenant of ['', tenant2, app.owner.tenantId]) {
        const response = await exchangeAs(foreignToken, tenant);
        expect(response.statusCode, tenant).toBe(403);
        expect(errorCode(response)).toBe('DENIED');
      }
    });

    it("gets no refresh token where the network is open: the tenant must be the registry's", async () => {
      expect((await patchRegistry(app, { publicNetworkAccess: 'Enabled' })).statusCode).toBe(200);
      try {
        for (const tenant of ['', tenant2, app.owner.tenantId]) {
          const response = await exchangeAs(foreignToken, tenant);
          expect(response.statusCode, tenant).toBe(401);
          expect(errorCode(response)).toBe('UNAUTHORIZED');
          expect(String((await lastAudit()).reason)).toMatch(/tenant/);
        }
        // The registry's own identities: with their tenant, or none (the token's own is used).
        const own = (
          await app.platform.identity.managedIdentityToken(group.id, 'system', ACR_AUDIENCE)
        ).token;
        expect((await exchangeAs(own, '')).statusCode).toBe(200);
        expect((await exchangeAs(own, app.owner.tenantId)).statusCode).toBe(200);
        expect((await exchangeAs(own, tenant2)).statusCode).toBe(401);
      } finally {
        await patchRegistry(app, { publicNetworkAccess: 'Disabled' });
      }
    });
  });

  it('never lets a web app in, even with AcrPull and trusted services allowed', async () => {
    const exchanged = await trustedRefreshToken(webApp.id, OUTSIDE);
    expect(exchanged.statusCode).toBe(403);
    expect(errorCode(exchanged)).toBe('DENIED');
  });

  it('stops tasks when networkRuleBypassAllowedForTasks is false', async () => {
    const exchanged = await trustedRefreshToken(task.id, OUTSIDE);
    const auth = basicRefresh(json<{ refresh_token: string }>(exchanged).refresh_token);
    await patchRegistry(app, { networkRuleBypassAllowedForTasks: false });
    expect((await pull(OUTSIDE, auth)).statusCode).toBe(403);
    expect(String((await lastAudit()).reason)).toContain('networkRuleBypassAllowedForTasks false');
    await patchRegistry(app, { networkRuleBypassAllowedForTasks: true });
    expect((await pull(OUTSIDE, auth)).statusCode).toBe(200);
  });

  it('closes the bypass for the next request when trusted services are turned off, and reopens it', async () => {
    const exchanged = await trustedRefreshToken(group.id, OUTSIDE);
    const auth = basicRefresh(json<{ refresh_token: string }>(exchanged).refresh_token);
    expect((await pull(OUTSIDE, auth)).statusCode).toBe(200);
    await patchRegistry(app, { networkRuleBypassOptions: 'None' });
    const refused = await pull(OUTSIDE, auth);
    expect(refused.statusCode).toBe(403);
    expect(String((await lastAudit()).reason)).toContain('trusted services are not allowed');
    expect((await trustedRefreshToken(group.id, OUTSIDE)).statusCode).toBe(403);
    await patchRegistry(app, { networkRuleBypassOptions: 'AzureServices' });
    expect((await pull(OUTSIDE, auth)).statusCode).toBe(200);
  });

  it('does not count a service principal as a trusted service', async () => {
    const response = await pull(OUTSIDE, app.ownerAuth);
    expect(response.statusCode).toBe(403);
    expect(String((await lastAudit()).reason)).toContain(
      'not a managed identity of a trusted service',
    );
  });
});

describe('the audit trail and explaining a decision', () => {
  beforeAll(async () => {
    await patchRegistry(app, {
      networkRuleSet: { defaultAction: 'Deny', ipRules: [{ action: 'Allow', value: ALLOWED }] },
    });
  });
  afterAll(async () => {
    await patchRegistry(app, { networkRuleSet: { defaultAction: 'Allow', ipRules: [] } });
  });

  it('tells a refused client the address the registry sees and what to change', async () => {
    const response = await pull(OUTSIDE, app.ownerAuth);
    expect(response.statusCode).toBe(403);
    const detail = JSON.parse(response.body).errors[0].detail as {
      sourceAddress: string;
      advice: string[];
    };
    expect(detail.sourceAddress).toBe(OUTSIDE);
    expect(detail.advice.join(' ')).toContain(
      `acr network-rule add --name myregistry --ip-address ${OUTSIDE}`,
    );
  });

  it('lists decisions with their reasons, filtered by result and principal', async () => {
    await pull(ALLOWED, app.ownerAuth);
    await pull(OUTSIDE, app.ownerAuth);
    const refused = await app.arm({
      method: 'GET',
      url: `${registryId(app)}/accessDecisions?api-version=2023-07-01&result=refused&top=5`,
    });
    expect(refused.statusCode).toBe(200);
    const records = json<{
      value: { result: string; source: string; reason: string; time: string }[];
    }>(refused).value;
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.result === 'refused')).toBe(true);
    expect(records[0]).toMatchObject({ source: OUTSIDE });
    expect(records[0]!.reason).toContain('no ip rule matches');
    const owner = (await app.platform.controlPlane.getPrincipalByAppId(app.owner.clientId))!
      .objectId;
    const mine = await app.arm({
      method: 'GET',
      url: `${registryId(app)}/accessDecisions?api-version=2023-07-01&result=allowed&principal=${owner}`,
    });
    const allowed = json<{ value: { principal: string; reason: string }[] }>(mine).value;
    expect(allowed.length).toBeGreaterThan(0);
    expect(allowed.every((r) => r.principal === owner)).toBe(true);
    expect(allowed[0]!.reason).toContain(`network: ip rule ${ALLOWED}`);
    const bad = await app.arm({
      method: 'GET',
      url: `${registryId(app)}/accessDecisions?api-version=2023-07-01&result=maybe`,
    });
    expect(bad.statusCode).toBe(400);
  });

  it('explains a caller on the data plane and a what-if on the management API', async () => {
    const self = await app.request({
      method: 'GET',
      url: '/acr/v1/_checkaccess?repository=net/app&action=push',
      remoteAddress: ALLOWED,
    });
    expect(self.statusCode).toBe(200);
    expect(json(self)).toMatchObject({
      sourceAddress: ALLOWED,
      network: { allowed: true },
      authorization: { allowed: true, action: 'push' },
    });

    const whatIf = await app.arm({
      method: 'POST',
      url: `${registryId(app)}/checkAccess?api-version=2023-07-01`,
      payload: { sourceAddress: OUTSIDE },
    });
    expect(whatIf.statusCode).toBe(200);
    const explained = json<{
      network: { allowed: boolean; reason: string };
      advice: string[];
      trustedServices: { allowed: boolean };
    }>(whatIf);
    expect(explained.network).toEqual({
      allowed: false,
      reason: `network: no ip rule matches ${OUTSIDE} (default action Deny)`,
    });
    expect(explained.trustedServices.allowed).toBe(true);
    expect(explained.advice[0]).toContain(OUTSIDE);
  });
});
