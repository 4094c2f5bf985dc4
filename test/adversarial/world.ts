/**
 * The world the adversarial access matrix attacks: registry A (the target, `myregistry`) with an
 * image, registry B (`otherreg`, another registry of the same owner), a virtual network with
 * private endpoints (A approved, A pending, B approved), and one credential of every kind the
 * issue lists, each obtained the way a real client would (identity-service grants, the token
 * endpoints, managed-identity tokens) while everything was open, then broken as the kind says
 * (secret deleted, role assignment deleted, re-signed expired, foreign key, `alg: none`...).
 *
 * Each credential carries the facts the oracle needs (oracle.ts): where it authenticates, its
 * roles, whether it is an instance of a trusted service. Those facts are written here by hand
 * from the rules, never read back from the code under test.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { generateKeyPair, SignJWT, type CryptoKey, type KeyObject } from 'jose';
import { expect } from 'vitest';
import { IpRuleSet, type Door } from '../../src/network/index.js';
import { SigningKeys } from '../../src/identity/index.js';
import { RegistryTokens } from '../../src/access/index.js';
import { buildDataPlaneApp } from '../../src/server/server.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { putIdentityOnlyGroup } from '../support/identity-host.js';
import {
  ACR_AUDIENCE,
  accessTokenOf,
  assignRole,
  basicToken,
  decodeJwt,
  deleteAssignment,
  exchange,
  identityToken,
  json,
  LOGIN_SERVER,
  newServicePrincipal,
  NULL_GUID,
  patchRegistry,
  pushImage,
  registryId,
  ARM_SCOPE,
  ACR_SCOPE,
} from '../http/arm-helpers.js';

export type RegistryKey = 'A' | 'B';
/** Docker scope actions, and `catalog` for `registry:catalog:*`. */
export type Action =
  | 'pull'
  | 'push'
  | 'delete'
  | 'metadata_read'
  | 'metadata_write'
  | 'deleted_read'
  | 'deleted_restore'
  | 'catalog';

export const B_NAME = 'otherreg';
export const B_LOGIN_SERVER = `${B_NAME}.azurecr.localhost`;
export const REPOSITORY = 'matrix/app';
/** A repository that does not exist: destructive routes aim here, so allowed cases change nothing. */
export const GHOST = 'matrix/ghost';
export const TRUSTED_PROXY = '192.0.2.0/24';
export const IP_RULE = '10.1.0.0/16';
export const VNET = '10.50.0.0/16';
export const TENANT_B_MISMATCH = 'foreign tenant';

/** The classic roles, as acr-reference.md 5.1 describes them (legacy permissions mode). */
const OWNER_ACTIONS: Action[] = [
  'pull',
  'push',
  'delete',
  'metadata_read',
  'metadata_write',
  // Soft delete: who may delete, write and read may list and restore what was deleted.
  'deleted_read',
  'deleted_restore',
  'catalog',
];
const ACR_PUSH_ACTIONS: Action[] = ['pull', 'push', 'metadata_read', 'metadata_write', 'catalog'];

export interface Credential {
  name: string;
  /** Authorization header for `/v2/`, `/acr/v1/` and `GET /oauth2/token`. */
  header?: string;
  /** Form fields for `POST /oauth2/token` (without service and scope). */
  tokenForm?: Record<string, string>;
  /** The identity-service token presented to `POST /oauth2/exchange`. */
  exchangeToken?: string;
  // --- facts for the oracle ---
  /** Registries where `header` / `tokenForm` authenticate. */
  validAt: RegistryKey[];
  /** What `exchangeToken` is: absent, invalid, valid, or valid but of another tenant. */
  exchange: 'none' | 'invalid' | 'valid' | 'other tenant';
  /**
   * An instance of a trusted service: a managed identity of a trusted resource type (container
   * group), a registry task's identity (only while tasks may bypass), or a first-party service.
   * A managed identity passes the bypass only if also `ownTenant` and it holds a role on the
   * registry (`roles`); a first-party service needs neither.
   */
  trustedService: boolean | 'task';
  /** The platform's own first-party service (scanner): no tenant or role needed to bypass. */
  firstParty?: boolean;
  /** Its principal belongs to another tenant than the registries'. */
  foreignTenant?: boolean;
  roles: Partial<Record<RegistryKey, Action[]>>;
  /** Writes referrers only (the scanner attaches its results; it pushes no image manifest). */
  referrersOnly?: boolean;
  /** A registry access token: the most it may do, whatever the roles say. */
  tokenScope?: { repositories: string[]; actions: Action[] };
}

export interface World {
  test: TestApp;
  /** The data-plane app of each door (private doors built like the real listeners). */
  doors: Record<DoorName, FastifyInstance>;
  credentials: Credential[];
  manifest: { bytes: Buffer; digest: string; config: string };
  ownerArmToken: string;
  /** ARM tokens for the management matrix, keyed by credential name. */
  armTokens: Record<string, string | undefined>;
  close(): Promise<void>;
}

export type DoorName = 'public' | 'pe-A' | 'pe-A-pending' | 'pe-B';

const NET_API = 'api-version=2023-05-01';

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Re-signs a real token's payload with `key` after `change`, keeping its header's kid. */
async function resign(
  token: string,
  key: CryptoKey | KeyObject,
  change: (payload: Record<string, unknown>) => Record<string, unknown>,
  kid?: string,
): Promise<string> {
  const { header, payload } = decodeJwt(token);
  return new SignJWT(change({ ...payload }))
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: kid ?? String(header.kid) })
    .sign(key);
}

function unsigned(token: string): string {
  const { header, payload } = decodeJwt(token);
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ ...header, alg: 'none' })}.${part(payload)}.`;
}

const expired = (payload: Record<string, unknown>) => {
  const now = Math.floor(Date.now() / 1000);
  return { ...payload, iat: now - 7200, nbf: now - 7200, exp: now - 3600 };
};

export async function buildWorld(): Promise<World> {
  const test = await createTestApp({ trustedProxies: [TRUSTED_PROXY] });
  const { platform, owner } = test;
  const group = `/subscriptions/${owner.subscriptionId}/resourceGroups/breakwater/providers`;

  // The target image, and a second registry of the same owner.
  const digest = await pushImage(test, REPOSITORY, 'v1');
  const stored = await test.request({
    method: 'GET',
    url: `/v2/${REPOSITORY}/manifests/v1`,
    headers: { host: LOGIN_SERVER, accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const manifestBytes = stored.rawPayload;
  const config = (JSON.parse(stored.body) as { config: { digest: string } }).config.digest;
  const createdB = await test.arm({
    method: 'PUT',
    url: `${registryId(test, B_NAME)}?api-version=2023-07-01`,
    payload: { location: 'local', sku: { name: 'Premium' } },
  });
  expect(createdB.statusCode).toBeLessThan(300);

  // A virtual network and three private endpoints.
  const vnet = await test.arm({
    method: 'PUT',
    url: `${group}/Microsoft.Network/virtualNetworks/vnet1?${NET_API}`,
    payload: {
      location: 'local',
      properties: {
        addressSpace: { addressPrefixes: [VNET] },
        subnets: [{ name: 'endpoints', properties: { addressPrefix: '10.50.1.0/24' } }],
      },
    },
  });
  expect(vnet.statusCode).toBe(201);
  const endpoint = async (name: string, registry: string, manual: boolean) => {
    const links = [
      {
        name: `${name}-link`,
        properties: { privateLinkServiceId: registryId(test, registry), groupIds: ['registry'] },
      },
    ];
    const id = `${group}/Microsoft.Network/privateEndpoints/${name}`;
    const created = await test.arm({
      method: 'PUT',
      url: `${id}?${NET_API}`,
      payload: {
        location: 'local',
        properties: {
          subnet: { id: `${group}/Microsoft.Network/virtualNetworks/vnet1/subnets/endpoints` },
          ...(manual
            ? { manualPrivateLinkServiceConnections: links }
            : { privateLinkServiceConnections: links }),
        },
      },
    });
    expect(created.statusCode).toBe(201);
    const ip = json<{ properties: { privateIPAddress: string } }>(created).properties
      .privateIPAddress;
    const registryRecord = (await platform.metadata.getRegistryByName(registry))!;
    // The door exactly as server/private-endpoints builds it for the endpoint's listener.
    const door: Door = {
      kind: 'private',
      endpointId: id,
      endpointName: name,
      registryId: registryRecord.id,
      privateIp: ip,
      network: new IpRuleSet([VNET]),
      addressPrefixes: [VNET],
    };
    return buildDataPlaneApp(platform, undefined, door);
  };
  const doors: Record<DoorName, FastifyInstance> = {
    public: test.app,
    'pe-A': await endpoint('pe-a', 'myregistry', false),
    'pe-A-pending': await endpoint('pe-a-pending', 'myregistry', true),
    'pe-B': await endpoint('pe-b', B_NAME, false),
  };

  // --- credentials, obtained while everything is open ---
  const registryKeys = await SigningKeys.open(join(test.dataDir, 'keys'), 'registry');
  const identityKey = platform.identityKeys.current;
  const foreign = (await generateKeyPair('ES256')).privateKey;
  const scope = [
    `repository:${REPOSITORY}:pull,push,delete,metadata_read,metadata_write,deleted_read,deleted_restore`,
    `repository:${GHOST}:pull,push,delete,metadata_read,metadata_write,deleted_read,deleted_restore`,
    'registry:catalog:*',
    'registry:deleted_catalog:*',
  ];
  const ownerBasic = test.ownerAuth;
  const accessA = accessTokenOf(await basicToken(test, ownerBasic, scope));
  const accessB = accessTokenOf(await basicToken(test, ownerBasic, scope, B_LOGIN_SERVER));
  const ownerAcr = await identityToken(test, owner.clientId, owner.clientSecret, ACR_SCOPE);
  const ownerArm = await identityToken(test, owner.clientId, owner.clientSecret, ARM_SCOPE);
  const refreshOf = async (token: string, host = LOGIN_SERVER, tenant?: string) => {
    const response = await exchange(test, token, {
      host,
      service: host,
      ...(tenant === undefined ? {} : { tenant }),
    });
    if (response.statusCode !== 200) throw new Error(`exchange failed: ${response.body}`);
    return json<{ refresh_token: string }>(response).refresh_token;
  };
  const ownerRefreshA = await refreshOf(ownerAcr);
  const ownerRefreshB = await refreshOf(ownerAcr, B_LOGIN_SERVER);
  const registryKey = registryKeys.current.privateKey;

  // Service principals: one whose secret is revoked, one whose role assignment is deleted.
  const revoked = await newServicePrincipal(test, 'adversary-revoked');
  await assignRole(test, registryId(test), revoked.objectId, 'AcrPush');
  const revokedAcr = await identityToken(test, revoked.appId, revoked.secret, ACR_SCOPE);
  const revokedArm = await identityToken(test, revoked.appId, revoked.secret, ARM_SCOPE);
  const revokedAccess = accessTokenOf(
    await basicToken(test, basic(revoked.appId, revoked.secret), scope),
  );
  const revokedRefresh = await refreshOf(revokedAcr);
  await platform.controlPlane.deleteSecret(revoked.secretId);

  const unassigned = await newServicePrincipal(test, 'adversary-unassigned');
  const assignment = await assignRole(test, registryId(test), unassigned.objectId, 'AcrPush');
  const unassignedBasic = basic(unassigned.appId, unassigned.secret);
  expect((await basicToken(test, unassignedBasic, scope)).statusCode).toBe(200);
  expect((await deleteAssignment(test, assignment.id)).statusCode).toBe(200);
  const unassignedAcr = await identityToken(test, unassigned.appId, unassigned.secret, ACR_SCOPE);
  const unassignedArm = await identityToken(test, unassigned.appId, unassigned.secret, ARM_SCOPE);

  // Managed identities of resources in this tenant.
  const host = async (type: string, name: string, role?: 'AcrPush') => {
    const id = `${group}/${type}/${name}`;
    let principalId: string;
    if (type === 'Microsoft.ContainerInstance/containerGroups') {
      // A group's ARM PUT deploys images; the matrix needs only its identity.
      principalId = await putIdentityOnlyGroup(platform, id);
    } else {
      const created = await test.arm({
        method: 'PUT',
        url: `${id}?${NET_API}`,
        payload: { location: 'local', identity: { type: 'SystemAssigned' }, properties: {} },
      });
      expect(created.statusCode, created.body).toBe(201);
      principalId = json<{ identity: { principalId: string } }>(created).identity.principalId;
    }
    if (role) await assignRole(test, registryId(test), principalId, role);
    const acr = (await platform.identity.managedIdentityToken(id, 'system', ACR_AUDIENCE)).token;
    const arm = (await platform.identity.managedIdentityToken(id, 'system', ARM_SCOPE)).token;
    return { acr, arm, refresh: await refreshOf(acr) };
  };
  const trusted = await host('Microsoft.ContainerInstance/containerGroups', 'cg-push', 'AcrPush');
  // A registry task's system identity with AcrPush (trusted while tasks may bypass).
  const taskId = `${registryId(test)}/tasks/build1`;
  const createdTask = await test.arm({
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
  expect(createdTask.statusCode, createdTask.body).toBe(201);
  await assignRole(
    test,
    registryId(test),
    json<{ identity: { principalId: string } }>(createdTask).identity.principalId,
    'AcrPush',
  );
  const taskAcr = (await platform.identity.managedIdentityToken(taskId, 'system', ACR_AUDIENCE))
    .token;
  const taskArm = (await platform.identity.managedIdentityToken(taskId, 'system', ARM_SCOPE)).token;
  const taskRefresh = await refreshOf(taskAcr);
  // The platform's vulnerability scanner: a first-party service, no managed identity, no role.
  const scannerAcr = (
    await platform.identity.firstPartyToken('scanner', 'Vulnerability scanner', ACR_AUDIENCE)
  ).token;
  const scannerArm = (
    await platform.identity.firstPartyToken('scanner', 'Vulnerability scanner', ARM_SCOPE)
  ).token;
  const scannerRefresh = await refreshOf(scannerAcr, LOGIN_SERVER, '');
  const noRole = await host('Microsoft.ContainerInstance/containerGroups', 'cg-norole');
  const webApp = await host('Microsoft.Web/sites', 'web-push', 'AcrPush');

  // A container group's managed identity in another tenant (its own subscription).
  const tenant2 = '2f2f2f2f-0000-4000-8000-000000000002';
  const subscription2 = '2f2f2f2f-0000-4000-8000-0000000000a2';
  await platform.controlPlane.createTenant({ id: tenant2, displayName: 'Elsewhere' });
  await platform.controlPlane.createSubscription({
    id: subscription2,
    tenantId: tenant2,
    displayName: 'Elsewhere',
    state: 'Enabled',
  });
  const foreignGroup = `/subscriptions/${subscription2}/resourceGroups/elsewhere`;
  const foreignCg = `${foreignGroup}/providers/Microsoft.ContainerInstance/containerGroups/cg`;
  await platform.controlPlane.putResource({
    id: `${foreignGroup}`,
    type: 'Microsoft.Resources/resourceGroups',
    subscriptionId: subscription2,
    resourceGroup: 'elsewhere',
    name: 'elsewhere',
    location: 'local',
    tags: {},
    sku: null,
    identity: null,
    properties: {},
    systemData: null,
  });
  await platform.controlPlane.putResource({
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
  await platform.identity.ensureSystemAssignedIdentity(tenant2, foreignCg, 'cg');
  const foreignAcr = (
    await platform.identity.managedIdentityToken(foreignCg, 'system', ACR_AUDIENCE)
  ).token;
  const foreignArm = (await platform.identity.managedIdentityToken(foreignCg, 'system', ARM_SCOPE))
    .token;
  // The exchange refuses a token of another tenant, so the matrix forges the refresh token it
  // would have got (signed with the registry's own key, as one minted before the rule was):
  // the network and identity stages must still refuse it.
  const foreignClaims = decodeJwt(foreignAcr).payload;
  expect((await exchange(test, foreignAcr, { tenant: '' })).statusCode).toBe(401);
  const foreignRefresh = await new RegistryTokens(registryKeys).refreshToken(
    {
      kind: 'aad',
      id: String(foreignClaims.oid),
      tenant: String(foreignClaims.tid),
      usingResource: foreignCg,
    },
    LOGIN_SERVER,
  );

  const refreshForm = (token: string) => ({ grant_type: 'refresh_token', refresh_token: token });
  const credentials: Credential[] = [
    { name: 'none', validAt: [], exchange: 'none', trustedService: false, roles: {} },
    {
      name: 'owner (control)',
      header: ownerBasic,
      tokenForm: { grant_type: 'password', username: owner.clientId, password: owner.clientSecret },
      exchangeToken: ownerAcr,
      validAt: ['A', 'B'],
      exchange: 'valid',
      trustedService: false,
      roles: { A: OWNER_ACTIONS, B: OWNER_ACTIONS },
    },
    {
      name: 'access token (control)',
      header: `Bearer ${accessA}`,
      tokenForm: refreshForm(ownerRefreshA),
      exchangeToken: accessA,
      validAt: ['A'],
      exchange: 'invalid',
      trustedService: false,
      roles: { A: OWNER_ACTIONS },
      tokenScope: { repositories: [REPOSITORY, GHOST], actions: OWNER_ACTIONS },
    },
    {
      name: 'expired',
      header: `Bearer ${await resign(accessA, registryKey, expired)}`,
      tokenForm: refreshForm(await resign(ownerRefreshA, registryKey, expired)),
      exchangeToken: await resign(ownerAcr, identityKey.privateKey, expired),
      validAt: [],
      exchange: 'invalid',
      trustedService: false,
      roles: { A: OWNER_ACTIONS, B: OWNER_ACTIONS },
    },
    {
      name: 'alg none',
      header: `Bearer ${unsigned(accessA)}`,
      tokenForm: refreshForm(unsigned(ownerRefreshA)),
      exchangeToken: unsigned(ownerAcr),
      validAt: [],
      exchange: 'invalid',
      trustedService: false,
      roles: { A: OWNER_ACTIONS, B: OWNER_ACTIONS },
    },
    {
      name: 'foreign key',
      header: `Bearer ${await resign(accessA, foreign, (p) => p)}`,
      tokenForm: refreshForm(await resign(ownerRefreshA, foreign, (p) => p)),
      exchangeToken: await resign(ownerAcr, foreign, (p) => p),
      validAt: [],
      exchange: 'invalid',
      trustedService: false,
      roles: { A: OWNER_ACTIONS, B: OWNER_ACTIONS },
    },
    {
      name: 'wrong audience',
      header: `Bearer ${await resign(accessA, registryKey, (p) => ({ ...p, aud: 'evil.example.com' }))}`,
      tokenForm: refreshForm(
        await resign(ownerRefreshA, registryKey, (p) => ({ ...p, aud: 'evil.example.com' })),
      ),
      exchangeToken: await resign(ownerAcr, identityKey.privateKey, (p) => ({
        ...p,
        aud: 'https://evil.example.com',
      })),
      validAt: [],
      exchange: 'invalid',
      trustedService: false,
      roles: { A: OWNER_ACTIONS, B: OWNER_ACTIONS },
    },
    {
      name: "other registry's token",
      header: `Bearer ${accessB}`,
      tokenForm: refreshForm(ownerRefreshB),
      exchangeToken: ownerRefreshB,
      validAt: ['B'],
      exchange: 'invalid',
      trustedService: false,
      roles: { B: OWNER_ACTIONS },
      tokenScope: { repositories: [REPOSITORY, GHOST], actions: OWNER_ACTIONS },
    },
    {
      name: 'revoked secret',
      header: basic(revoked.appId, revoked.secret),
      tokenForm: { grant_type: 'password', username: revoked.appId, password: revoked.secret },
      exchangeToken: revokedAcr,
      validAt: [],
      exchange: 'invalid',
      trustedService: false,
      roles: { A: ACR_PUSH_ACTIONS },
    },
    {
      name: 'token of revoked secret',
      header: `Bearer ${revokedAccess}`,
      tokenForm: refreshForm(revokedRefresh),
      exchangeToken: revokedAcr,
      validAt: [],
      exchange: 'invalid',
      trustedService: false,
      roles: { A: ACR_PUSH_ACTIONS },
    },
    {
      name: 'deleted role assignment',
      header: unassignedBasic,
      tokenForm: {
        grant_type: 'password',
        username: unassigned.appId,
        password: unassigned.secret,
      },
      exchangeToken: unassignedAcr,
      validAt: ['A', 'B'],
      exchange: 'valid',
      trustedService: false,
      roles: {},
    },
    {
      name: 'MI without role',
      header: basic(NULL_GUID, noRole.refresh),
      tokenForm: refreshForm(noRole.refresh),
      exchangeToken: noRole.acr,
      validAt: ['A'],
      exchange: 'valid',
      trustedService: true,
      roles: {},
    },
    {
      name: 'web app MI (AcrPush)',
      header: basic(NULL_GUID, webApp.refresh),
      tokenForm: refreshForm(webApp.refresh),
      exchangeToken: webApp.acr,
      validAt: ['A'],
      exchange: 'valid',
      trustedService: false,
      roles: { A: ACR_PUSH_ACTIONS },
    },
    {
      name: 'MI of another tenant',
      header: basic(NULL_GUID, foreignRefresh),
      tokenForm: refreshForm(foreignRefresh),
      exchangeToken: foreignAcr,
      validAt: ['A'],
      exchange: 'other tenant',
      trustedService: true,
      foreignTenant: true,
      roles: {},
    },
    {
      name: 'task MI (AcrPush)',
      header: basic(NULL_GUID, taskRefresh),
      tokenForm: refreshForm(taskRefresh),
      exchangeToken: taskAcr,
      validAt: ['A'],
      exchange: 'valid',
      trustedService: 'task',
      roles: { A: ACR_PUSH_ACTIONS },
    },
    {
      // Its principal lives in the platform's own tenant, not the registry's.
      name: 'first-party scanner',
      header: basic(NULL_GUID, scannerRefresh),
      tokenForm: refreshForm(scannerRefresh),
      exchangeToken: scannerAcr,
      validAt: ['A'],
      exchange: 'other tenant',
      trustedService: true,
      firstParty: true,
      // Reads images and attaches results as referrers; changes no attributes.
      roles: { A: ['pull', 'push', 'metadata_read', 'catalog'] },
      referrersOnly: true,
    },
    {
      name: 'trusted MI (AcrPush, control)',
      header: basic(NULL_GUID, trusted.refresh),
      tokenForm: refreshForm(trusted.refresh),
      exchangeToken: trusted.acr,
      validAt: ['A'],
      exchange: 'valid',
      trustedService: true,
      roles: { A: ACR_PUSH_ACTIONS },
    },
  ];

  const armTokens: Record<string, string | undefined> = {
    none: undefined,
    'owner (control)': ownerArm,
    'access token (control)': accessA,
    expired: await resign(ownerArm, identityKey.privateKey, expired),
    'alg none': unsigned(ownerArm),
    'foreign key': await resign(ownerArm, foreign, (p) => p),
    'wrong audience': ownerAcr,
    "other registry's token": accessB,
    'revoked secret': revokedArm,
    'deleted role assignment': unassignedArm,
    'MI without role': noRole.arm,
    'web app MI (AcrPush)': webApp.arm,
    'MI of another tenant': foreignArm,
    'trusted MI (AcrPush, control)': trusted.arm,
    'task MI (AcrPush)': taskArm,
    'first-party scanner': scannerArm,
  };

  return {
    test,
    doors,
    credentials,
    manifest: { bytes: manifestBytes, digest, config },
    ownerArmToken: ownerArm,
    armTokens,
    async close() {
      for (const name of ['pe-A', 'pe-A-pending', 'pe-B'] as const) await doors[name].close();
      await test.close();
    },
  };
}

/** Sets registry A's network settings (as `az acr update` would). */
export async function setState(test: TestApp, state: RegistryState): Promise<void> {
  const response = await patchRegistry(test, {
    publicNetworkAccess: state.publicNetworkAccess,
    networkRuleBypassOptions: state.bypass,
    networkRuleBypassAllowedForTasks: state.tasksAllowed,
    networkRuleSet: {
      defaultAction: state.defaultAction,
      ipRules: [{ action: 'Allow', value: IP_RULE }],
    },
  });
  expect(response.statusCode).toBe(200);
}

export interface RegistryState {
  publicNetworkAccess: 'Enabled' | 'Disabled';
  defaultAction: 'Allow' | 'Deny';
  bypass: 'AzureServices' | 'None';
  /** networkRuleBypassAllowedForTasks. */
  tasksAllowed: boolean;
}
