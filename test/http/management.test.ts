/**
 * The management listener through `inject`, judged by what ARM clients (az CLI, SDKs) see: the
 * registry resource (shape, defaults, validation with ACR's codes and texts), api-versions and
 * authentication, role definitions and assignments, the identity service (OIDC discovery,
 * client credentials, JWKS) and the Graph subset.
 */
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { describe, expect, it } from 'vitest';
import { TEST_MANAGEMENT_URL, type TestApp } from '../support/app.js';
import {
  armError,
  ARM_SCOPE,
  assignRole,
  AUTHORIZATION_API,
  basicToken,
  clientCredentials,
  decodeJwt,
  form,
  groupId,
  identityToken,
  json,
  LOGIN_SERVER,
  newServicePrincipal,
  patchRegistry,
  REGISTRY_API,
  registryId,
  ROLE_IDS,
  subscriptionScope,
  unsignedJwt,
  withApp,
} from './arm-helpers.js';

type Registry = {
  id: string;
  name: string;
  type: string;
  location: string;
  tags: Record<string, string>;
  sku: { name: string; tier: string };
  properties: Record<string, unknown> & {
    networkRuleSet: { defaultAction: string; ipRules: { action: string; value: string }[] } | null;
    policies: Record<string, Record<string, unknown>>;
  };
};

function putRegistry(
  test: TestApp,
  name: string,
  body: Record<string, unknown>,
  group = 'breakwater',
) {
  return test.arm({
    method: 'PUT',
    url: `${registryId(test, name, group)}?api-version=${REGISTRY_API}`,
    payload: body,
  });
}

function getRegistry(test: TestApp, name = 'myregistry', apiVersion = REGISTRY_API) {
  return test.arm({
    method: 'GET',
    url: `${registryId(test, name)}?api-version=${apiVersion}`,
  });
}

describe('the registry resource', () => {
  const app = withApp();

  it('GETs with every property of ACR 2025-11-01 and its defaults', async () => {
    const response = await getRegistry(app());
    expect(response.statusCode).toBe(200);
    const registry = json<Registry>(response);
    expect(registry).toMatchObject({
      id: registryId(app()),
      name: 'myregistry',
      type: 'Microsoft.ContainerRegistry/registries',
      location: 'local',
      tags: {},
      sku: { name: 'Premium', tier: 'Premium' },
    });
    const properties = registry.properties;
    for (const key of [
      'loginServer',
      'creationDate',
      'provisioningState',
      'adminUserEnabled',
      'networkRuleSet',
      'policies',
      'encryption',
      'status',
      'dataEndpointEnabled',
      'dataEndpointHostNames',
      'privateEndpointConnections',
      'publicNetworkAccess',
      'networkRuleBypassOptions',
      'networkRuleBypassAllowedForTasks',
      'zoneRedundancy',
      'anonymousPullEnabled',
      'roleAssignmentMode',
    ]) {
      expect(properties, key).toHaveProperty(key);
    }
    expect(properties).toMatchObject({
      loginServer: LOGIN_SERVER,
      provisioningState: 'Succeeded',
      adminUserEnabled: false,
      networkRuleSet: { defaultAction: 'Allow', ipRules: [] },
      encryption: { status: 'disabled' },
      dataEndpointEnabled: false,
      dataEndpointHostNames: [],
      privateEndpointConnections: [],
      publicNetworkAccess: 'Enabled',
      networkRuleBypassOptions: 'AzureServices',
      networkRuleBypassAllowedForTasks: true,
      zoneRedundancy: 'Disabled',
      anonymousPullEnabled: false,
      roleAssignmentMode: 'LegacyRegistryPermissions',
    });
    expect(Number.isNaN(Date.parse(String(properties.creationDate)))).toBe(false);
    expect(Object.keys(properties.policies).sort()).toEqual(
      [
        'azureADAuthenticationAsArmPolicy',
        'exportPolicy',
        'quarantinePolicy',
        'retentionPolicy',
        'softDeletePolicy',
        'trustPolicy',
      ].sort(),
    );
    expect(properties.policies).toMatchObject({
      quarantinePolicy: { status: 'disabled' },
      trustPolicy: { type: 'Notary', status: 'disabled' },
      retentionPolicy: { days: 7, status: 'disabled' },
      exportPolicy: { status: 'enabled' },
      azureADAuthenticationAsArmPolicy: { status: 'enabled' },
      softDeletePolicy: { retentionDays: 7, status: 'disabled' },
    });
  });

  it('creates a Standard registry with 201, its defaults, and a live login server', async () => {
    const response = await putRegistry(app(), 'stdreg01', {
      location: 'local',
      sku: { name: 'Standard' },
    });
    expect(response.statusCode).toBe(201);
    const registry = json<Registry>(response);
    expect(registry.sku).toEqual({ name: 'Standard', tier: 'Standard' });
    expect(registry.properties).toMatchObject({
      loginServer: 'stdreg01.azurecr.localhost',
      networkRuleSet: { defaultAction: 'Allow', ipRules: [] },
      adminUserEnabled: false,
      publicNetworkAccess: 'Enabled',
    });
    expect((await getRegistry(app(), 'stdreg01')).statusCode).toBe(200);
    const login = await app().request({
      method: 'GET',
      url: '/v2/',
      headers: { host: 'stdreg01.azurecr.localhost' },
    });
    expect(login.statusCode).toBe(200);
  });

  it('creates a Basic registry with no network rule set', async () => {
    const response = await putRegistry(app(), 'basicreg1', {
      location: 'local',
      sku: { name: 'Basic' },
    });
    expect(response.statusCode).toBe(201);
    const registry = json<Registry>(response);
    expect(registry.sku.name).toBe('Basic');
    expect(registry.properties.networkRuleSet).toBeNull();
  });

  it('refuses invalid names with 400 InvalidRegistryName', async () => {
    for (const name of ['abcd', 'bad-name1', 'bad_name1', 'a'.repeat(51)]) {
      const response = await putRegistry(app(), name, {
        location: 'local',
        sku: { name: 'Standard' },
      });
      expect(response.statusCode, name).toBe(400);
      expect(armError(response).code, name).toBe('InvalidRegistryName');
    }
  });

  it('refuses a name taken in another resource group with 409 AlreadyInUse', async () => {
    const group = await app().arm({
      method: 'PUT',
      url: `${groupId(app(), 'othergroup')}?api-version=2021-04-01`,
      payload: { location: 'local' },
    });
    expect(group.statusCode).toBe(201);
    const response = await putRegistry(
      app(),
      'myregistry',
      { location: 'local', sku: { name: 'Premium' } },
      'othergroup',
    );
    expect(response.statusCode).toBe(409);
    expect(armError(response).code).toBe('AlreadyInUse');
    // DNS names are case-insensitive: another case of the same name is just as taken.
    const otherCase = await putRegistry(
      app(),
      'MyRegistry',
      { location: 'local', sku: { name: 'Premium' } },
      'othergroup',
    );
    expect(otherCase.statusCode).toBe(409);
    expect(armError(otherCase).code).toBe('AlreadyInUse');
  });

  it('refuses the Classic SKU with ACR’s text', async () => {
    const response = await putRegistry(app(), 'classicreg1', {
      location: 'local',
      sku: { name: 'Classic' },
    });
    expect(response.statusCode).toBe(400);
    expect(armError(response).message).toContain(
      'Classic SKU is no longer supported. Please select a managed SKU.',
    );
    expect((await getRegistry(app(), 'classicreg1')).statusCode).toBe(404);
  });

  it('refuses disabling public network access on Basic and Standard with ACR’s exact error', async () => {
    const created = await putRegistry(app(), 'privbasic1', {
      location: 'local',
      sku: { name: 'Basic' },
      properties: { publicNetworkAccess: 'Disabled' },
    });
    expect(created.statusCode).toBe(400);
    expect(armError(created)).toEqual({
      code: 'DisablingPublicNetworkAccessNotSupported',
      message:
        'Disabling public network access is not supported for the SKU Basic. For more information, please visit https://aka.ms/acr/private-link.',
    });
    expect((await getRegistry(app(), 'privbasic1')).statusCode).toBe(404);

    const patched = await patchRegistry(app(), { publicNetworkAccess: 'Disabled' }, 'stdreg01');
    expect(patched.statusCode).toBe(400);
    expect(armError(patched)).toEqual({
      code: 'DisablingPublicNetworkAccessNotSupported',
      message:
        'Disabling public network access is not supported for the SKU Standard. For more information, please visit https://aka.ms/acr/private-link.',
    });
    const after = json<Registry>(await getRegistry(app(), 'stdreg01'));
    expect(after.properties.publicNetworkAccess).toBe('Enabled');
  });

  it('round-trips networkRuleBypassOptions None as az acr update sends it', async () => {
    const patched = await app().arm({
      method: 'PATCH',
      url: `${registryId(app())}?api-version=2022-02-01-preview`,
      headers: { 'content-type': 'application/json' },
      payload: '{"properties": {"networkRuleBypassOptions": "None"}}',
    });
    expect(patched.statusCode).toBe(200);
    expect(json<Registry>(patched).properties.networkRuleBypassOptions).toBe('None');
    const read = json<Registry>(await getRegistry(app(), 'myregistry', '2022-02-01-preview'));
    expect(read.properties.networkRuleBypassOptions).toBe('None');
    const restored = await patchRegistry(app(), { networkRuleBypassOptions: 'AzureServices' });
    expect(json<Registry>(restored).properties.networkRuleBypassOptions).toBe('AzureServices');
  });

  it('validates the soft delete policy and refuses it together with the retention policy', async () => {
    const policies = (value: Record<string, unknown>) =>
      patchRegistry(app(), { policies: value }).then((r) => ({
        status: r.statusCode,
        body: json<{ error?: { code: string; message: string } }>(r),
      }));
    const tooLong = await policies({ softDeletePolicy: { retentionDays: 91, status: 'enabled' } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error?.message).toBe(
      'The soft delete retention days must be an integer from 1 to 90.',
    );
    expect((await policies({ retentionPolicy: { days: 3, status: 'enabled' } })).status).toBe(200);
    const both = await policies({ softDeletePolicy: { retentionDays: 5, status: 'enabled' } });
    expect(both.status).toBe(400);
    expect(both.body.error?.message).toBe(
      'The retention policy and the soft delete policy cannot both be enabled.',
    );
    // Nothing of the refused change stayed.
    const read = json<Registry>(await getRegistry(app()));
    expect(read.properties.policies).toMatchObject({
      retentionPolicy: { days: 3, status: 'enabled' },
      softDeletePolicy: { retentionDays: 7, status: 'disabled' },
    });
    const swapped = await policies({
      retentionPolicy: { status: 'disabled' },
      softDeletePolicy: { retentionDays: 5, status: 'enabled' },
    });
    expect(swapped.status).toBe(200);
    await policies({ softDeletePolicy: { status: 'disabled' } });
  });

  it('accepts IP rules keyed `value`, IPv4 and IPv6 CIDR, and refuses invalid ones', async () => {
    const first = await patchRegistry(
      app(),
      {
        networkRuleSet: {
          defaultAction: 'Allow',
          ipRules: [{ action: 'Allow', value: '127.0.0.9' }],
        },
      },
      'myregistry',
      '2021-08-01-preview',
    );
    expect(first.statusCode).toBe(200);
    expect(json<Registry>(first).properties.networkRuleSet).toEqual({
      defaultAction: 'Allow',
      ipRules: [{ action: 'Allow', value: '127.0.0.9' }],
    });
    const rules = [
      { action: 'Allow', value: '127.0.0.9' },
      { action: 'Allow', value: '10.0.0.0/8' },
      { action: 'Allow', value: '2001:db8::/32' },
    ];
    const second = await patchRegistry(
      app(),
      { networkRuleSet: { defaultAction: 'Allow', ipRules: rules } },
      'myregistry',
      '2021-08-01-preview',
    );
    expect(second.statusCode).toBe(200);
    const read = json<Registry>(await getRegistry(app(), 'myregistry', '2021-08-01-preview'));
    expect(read.properties.networkRuleSet).toEqual({ defaultAction: 'Allow', ipRules: rules });

    for (const value of ['300.1.2.3', 'not-an-ip', '10.0.0.0/33']) {
      const invalid = await patchRegistry(app(), {
        networkRuleSet: { defaultAction: 'Allow', ipRules: [{ action: 'Allow', value }] },
      });
      expect(invalid.statusCode, value).toBe(400);
      expect(armError(invalid).message, value).toContain(value);
    }
    const unchanged = json<Registry>(await getRegistry(app()));
    expect(unchanged.properties.networkRuleSet?.ipRules).toEqual(rules);
  });

  it('never opens a Deny rule set through a networkRuleSet that omits the required defaultAction', async () => {
    const deny = await patchRegistry(app(), {
      networkRuleSet: {
        defaultAction: 'Deny',
        ipRules: [{ action: 'Allow', value: '10.1.0.0/16' }],
      },
    });
    expect(deny.statusCode).toBe(200);
    try {
      const partial = await patchRegistry(app(), {
        networkRuleSet: { ipRules: [{ action: 'Allow', value: '10.2.0.0/16' }] },
      });
      // The spec marks defaultAction required: refuse the body, or at least keep Deny.
      if (partial.statusCode === 200) {
        expect(json<Registry>(partial).properties.networkRuleSet?.defaultAction).toBe('Deny');
      } else {
        expect(partial.statusCode).toBe(400);
      }
      const read = json<Registry>(await getRegistry(app()));
      expect(read.properties.networkRuleSet?.defaultAction).toBe('Deny');
    } finally {
      const reopened = await patchRegistry(app(), {
        networkRuleSet: { defaultAction: 'Allow', ipRules: [] },
      });
      expect(reopened.statusCode).toBe(200);
    }
  });

  it('lists registries by subscription and by resource group', async () => {
    const other = await putRegistry(
      app(),
      'grpreg01',
      { location: 'local', sku: { name: 'Standard' } },
      'othergroup',
    );
    expect(other.statusCode).toBe(201);
    const bySubscription = await app().arm({
      method: 'GET',
      url: `${subscriptionScope(app())}/providers/Microsoft.ContainerRegistry/registries?api-version=${REGISTRY_API}`,
    });
    expect(bySubscription.statusCode).toBe(200);
    const all = json<{ value: Registry[] }>(bySubscription).value.map((r) => r.name);
    expect(all).toEqual(expect.arrayContaining(['myregistry', 'stdreg01', 'grpreg01']));
    const byGroup = await app().arm({
      method: 'GET',
      url: `${groupId(app())}/providers/Microsoft.ContainerRegistry/registries?api-version=${REGISTRY_API}`,
    });
    expect(byGroup.statusCode).toBe(200);
    const inGroup = json<{ value: Registry[] }>(byGroup).value.map((r) => r.name);
    expect(inGroup).toEqual(expect.arrayContaining(['myregistry', 'stdreg01']));
    expect(inGroup).not.toContain('grpreg01');
  });

  it('lists registries through the resources API with a resourceType filter', async () => {
    const filter = encodeURIComponent("resourceType eq 'Microsoft.ContainerRegistry/registries'");
    const response = await app().arm({
      method: 'GET',
      url: `${subscriptionScope(app())}/resources?$filter=${filter}&api-version=2021-04-01`,
    });
    expect(response.statusCode).toBe(200);
    const value = json<{ value: { id: string; name: string; type: string }[] }>(response).value;
    expect(value).toContainEqual(
      expect.objectContaining({ id: registryId(app()), name: 'myregistry' }),
    );
    expect(value.map((r) => r.name)).toContain('grpreg01');
    expect(value.every((r) => r.type === 'Microsoft.ContainerRegistry/registries')).toBe(true);
  });

  it('deletes a registry: 200, then 404 on GET and on its login server, 204 again', async () => {
    const deleted = await app().arm({
      method: 'DELETE',
      url: `${registryId(app(), 'stdreg01')}?api-version=${REGISTRY_API}`,
    });
    expect(deleted.statusCode).toBe(200);
    const read = await getRegistry(app(), 'stdreg01');
    expect(read.statusCode).toBe(404);
    expect(armError(read).code).toBe('ResourceNotFound');
    const login = await app().request({
      method: 'GET',
      url: '/v2/',
      headers: { host: 'stdreg01.azurecr.localhost' },
    });
    expect(login.statusCode).toBe(404);
    const again = await app().arm({
      method: 'DELETE',
      url: `${registryId(app(), 'stdreg01')}?api-version=${REGISTRY_API}`,
    });
    expect(again.statusCode).toBe(204);
    const recreated = await putRegistry(app(), 'stdreg01', {
      location: 'local',
      sku: { name: 'Standard' },
    });
    expect(recreated.statusCode).toBe(201);
  });
});

describe('api-versions and authentication', () => {
  const app = withApp();

  it('serves every api-version tools send', async () => {
    for (const version of [
      '2019-11-01',
      '2021-04-01',
      '2021-08-01-preview',
      '2022-02-01-preview',
      '2023-07-01',
      '2025-11-01',
    ]) {
      const response = await getRegistry(app(), 'myregistry', version);
      expect(response.statusCode, version).toBe(200);
      expect(json<Registry>(response).name, version).toBe('myregistry');
    }
  });

  it('refuses an unknown api-version with 400 NoRegisteredProviderFound', async () => {
    const response = await getRegistry(app(), 'myregistry', '2099-01-01');
    expect(response.statusCode).toBe(400);
    expect(armError(response).code).toBe('NoRegisteredProviderFound');
  });

  it('refuses a missing api-version with 400 MissingApiVersionParameter', async () => {
    const response = await app().arm({ method: 'GET', url: registryId(app()) });
    expect(response.statusCode).toBe(400);
    expect(armError(response).code).toBe('MissingApiVersionParameter');
  });

  it('refuses a request without a token with 401 AuthenticationFailed', async () => {
    const response = await app().management.inject({
      method: 'GET',
      url: `${registryId(app())}?api-version=${REGISTRY_API}`,
    });
    expect(response.statusCode).toBe(401);
    expect(armError(response).code).toBe('AuthenticationFailed');
  });

  it('refuses an unsigned (alg none) token with 401 InvalidAuthenticationToken', async () => {
    const { header, payload } = decodeJwt(await app().ownerToken());
    const response = await app().management.inject({
      method: 'GET',
      url: `${registryId(app())}?api-version=${REGISTRY_API}`,
      headers: { authorization: `Bearer ${unsignedJwt(payload, { kid: header.kid })}` },
    });
    expect(response.statusCode).toBe(401);
    expect(armError(response).code).toBe('InvalidAuthenticationToken');
  });

  it('refuses a registry access token with 401 InvalidAuthenticationToken', async () => {
    const token = await basicToken(app(), app().ownerAuth, ['repository:x:pull']);
    const response = await app().management.inject({
      method: 'GET',
      url: `${registryId(app())}?api-version=${REGISTRY_API}`,
      headers: {
        authorization: `Bearer ${json<{ access_token: string }>(token).access_token}`,
      },
    });
    expect(response.statusCode).toBe(401);
    expect(armError(response).code).toBe('InvalidAuthenticationToken');
  });

  it('lets a Reader read but not write, with ARM’s AuthorizationFailed message', async () => {
    const reader = await newServicePrincipal(app(), 'reader');
    const { response: assigned } = await assignRole(
      app(),
      registryId(app()),
      reader.objectId,
      'Reader',
    );
    expect(assigned.statusCode).toBe(201);
    const token = await identityToken(app(), reader.appId, reader.secret, ARM_SCOPE);
    const headers = { authorization: `Bearer ${token}` };
    const read = await app().management.inject({
      method: 'GET',
      url: `${registryId(app())}?api-version=${REGISTRY_API}`,
      headers,
    });
    expect(read.statusCode).toBe(200);
    const write = await app().management.inject({
      method: 'PATCH',
      url: `${registryId(app())}?api-version=${REGISTRY_API}`,
      headers,
      payload: { properties: { adminUserEnabled: true } },
    });
    expect(write.statusCode).toBe(403);
    expect(armError(write)).toEqual({
      code: 'AuthorizationFailed',
      message: `The client '${reader.appId}' with object id '${reader.objectId}' does not have authorization to perform action 'Microsoft.ContainerRegistry/registries/write' over scope '${registryId(app())}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    });
    const after = json<Registry>(await getRegistry(app()));
    expect(after.properties.adminUserEnabled).toBe(false);
  });
});

describe('role definitions and assignments', () => {
  const app = withApp();
  type RoleDefinition = { id: string; name: string; properties: { roleName: string } };
  type Assignment = {
    id: string;
    name: string;
    properties: { roleDefinitionId: string; principalId: string; scope: string };
  };

  it('finds AcrPull by name with its real id in subscription form', async () => {
    const filter = encodeURIComponent("roleName eq 'AcrPull'");
    const response = await app().arm({
      method: 'GET',
      url: `${registryId(app())}/providers/Microsoft.Authorization/roleDefinitions?$filter=${filter}&api-version=2018-01-01-preview`,
    });
    expect(response.statusCode).toBe(200);
    const value = json<{ value: RoleDefinition[] }>(response).value;
    expect(value).toHaveLength(1);
    expect(value[0]!.id).toBe(
      `${subscriptionScope(app())}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d`,
    );
    expect(value[0]!.properties.roleName).toBe('AcrPull');
  });

  it('lists every built-in role with its real id', async () => {
    const response = await app().arm({
      method: 'GET',
      url: `${registryId(app())}/providers/Microsoft.Authorization/roleDefinitions?api-version=2018-01-01-preview`,
    });
    expect(response.statusCode).toBe(200);
    const byName = new Map(
      json<{ value: RoleDefinition[] }>(response).value.map((r) => [r.properties.roleName, r]),
    );
    for (const [roleName, id] of Object.entries(ROLE_IDS)) {
      const role = byName.get(roleName);
      expect(role, roleName).toBeDefined();
      expect(role!.name, roleName).toBe(id);
      expect(role!.id.endsWith(`/roleDefinitions/${id}`), roleName).toBe(true);
    }
  });

  it('creates an assignment with 201 and refuses a duplicate under a new GUID with 409', async () => {
    const sp = await newServicePrincipal(app(), 'dup');
    const first = await assignRole(app(), registryId(app()), sp.objectId, 'AcrPull');
    expect(first.response.statusCode).toBe(201);
    const created = json<Assignment>(first.response);
    expect(created.id).toBe(first.id);
    expect(created.name).toBe(first.name);
    expect(created.properties).toMatchObject({
      principalId: sp.objectId,
      scope: registryId(app()),
    });
    const duplicate = await assignRole(app(), registryId(app()), sp.objectId, 'AcrPull');
    expect(duplicate.response.statusCode).toBe(409);
    expect(armError(duplicate.response).code).toBe('RoleAssignmentExists');
    expect(armError(duplicate.response).message).toContain('role assignment already exists');
  });

  it('accepts a role definition id in registry-scoped form and reports it in subscription form', async () => {
    const sp = await newServicePrincipal(app(), 'scoped-form');
    const response = await app().arm({
      method: 'PUT',
      url: `${registryId(app())}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=${AUTHORIZATION_API}`,
      payload: {
        properties: {
          roleDefinitionId: `${registryId(app())}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.AcrPush}`,
          principalId: sp.objectId,
        },
      },
    });
    expect(response.statusCode).toBe(201);
    expect(json<Assignment>(response).properties.roleDefinitionId).toBe(
      `${subscriptionScope(app())}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.AcrPush}`,
    );
  });

  it('lists with atScope() at the registry, including the subscription Owner', async () => {
    const owner = await app().platform.controlPlane.getPrincipalByAppId(app().owner.clientId);
    const response = await app().arm({
      method: 'GET',
      url: `${registryId(app())}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()&api-version=${AUTHORIZATION_API}`,
    });
    expect(response.statusCode).toBe(200);
    const value = json<{ value: Assignment[] }>(response).value;
    expect(value).toContainEqual(
      expect.objectContaining({
        properties: expect.objectContaining({
          principalId: owner!.objectId,
          scope: subscriptionScope(app()),
          roleDefinitionId: expect.stringMatching(new RegExp(`/${ROLE_IDS.Owner}$`)),
        }),
      }),
    );
    expect(value.some((a) => a.properties.scope === registryId(app()))).toBe(true);
  });

  it('refuses an unknown principal with 400 PrincipalNotFound', async () => {
    const { response } = await assignRole(app(), registryId(app()), randomUUID(), 'AcrPull');
    expect(response.statusCode).toBe(400);
    expect(armError(response).code).toBe('PrincipalNotFound');
  });
});

describe('the identity service and Graph', () => {
  const app = withApp();

  it('serves OpenID discovery for a tenant, naming its token endpoint', async () => {
    const tenant = app().owner.tenantId;
    const response = await app().management.inject({
      method: 'GET',
      url: `/${tenant}/v2.0/.well-known/openid-configuration`,
    });
    expect(response.statusCode).toBe(200);
    const document = json<{ token_endpoint: string; jwks_uri: string }>(response);
    expect(document.token_endpoint).toBe(`${TEST_MANAGEMENT_URL}/${tenant}/oauth2/v2.0/token`);
    expect(typeof document.jwks_uri).toBe('string');
  });

  it('serves ADFS discovery whose token endpoint issues tokens ARM accepts', async () => {
    const response = await app().management.inject({
      method: 'GET',
      url: '/adfs/.well-known/openid-configuration',
    });
    expect(response.statusCode).toBe(200);
    const document = json<{ token_endpoint: string }>(response);
    expect(document.token_endpoint.startsWith(`${TEST_MANAGEMENT_URL}/`)).toBe(true);
    const body = form({
      client_id: app().owner.clientId,
      grant_type: 'client_credentials',
      client_secret: app().owner.clientSecret,
      scope: 'https://management.local//.default',
    });
    const token = await app().management.inject({
      method: 'POST',
      url: new URL(document.token_endpoint).pathname,
      headers: body.headers,
      payload: body.payload,
    });
    expect(token.statusCode).toBe(200);
    const granted = json<{ token_type: string; expires_in: number; access_token: string }>(token);
    expect(granted.token_type).toBe('Bearer');
    expect(granted.expires_in).toBeGreaterThan(0);
    const subscriptions = await app().management.inject({
      method: 'GET',
      url: '/subscriptions?api-version=2019-11-01',
      headers: { authorization: `Bearer ${granted.access_token}` },
    });
    expect(subscriptions.statusCode).toBe(200);
    expect(json<{ value: { subscriptionId: string }[] }>(subscriptions).value).toContainEqual(
      expect.objectContaining({
        subscriptionId: app().owner.subscriptionId,
        tenantId: app().owner.tenantId,
      }),
    );
  });

  it('publishes JWKS whose kids sign its tokens', async () => {
    const token = await app().ownerToken();
    const kid = decodeJwt(token).header.kid;
    const response = await app().management.inject({
      method: 'GET',
      url: `/${app().owner.tenantId}/discovery/v2.0/keys`,
    });
    expect(response.statusCode).toBe(200);
    const jwks = json<JSONWebKeySet>(response);
    expect(jwks.keys.map((k) => k.kid)).toContain(kid);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks));
    expect(payload.tid).toBe(app().owner.tenantId);
  });

  it('answers a bad secret with 401 invalid_client AADSTS7000215', async () => {
    const response = await clientCredentials(app(), app().owner.clientId, 'wrong', ARM_SCOPE);
    expect(response.statusCode).toBe(401);
    const body = json<{ error: string; error_description: string }>(response);
    expect(body.error).toBe('invalid_client');
    expect(body.error_description).toContain('AADSTS7000215');
  });

  it('answers an unknown client with 400 AADSTS700016', async () => {
    const response = await clientCredentials(app(), randomUUID(), 'whatever', ARM_SCOPE);
    expect(response.statusCode).toBe(400);
    expect(json<{ error_description: string }>(response).error_description).toContain(
      'AADSTS700016',
    );
  });

  it('resolves a service principal object id through Graph getByIds', async () => {
    const sp = await newServicePrincipal(app(), 'graph-target');
    const graphToken = await identityToken(
      app(),
      app().owner.clientId,
      app().owner.clientSecret,
      `${TEST_MANAGEMENT_URL}//.default`,
    );
    const response = await app().management.inject({
      method: 'POST',
      url: '/v1.0/directoryObjects/getByIds',
      headers: { authorization: `Bearer ${graphToken}` },
      payload: {
        ids: [sp.objectId],
        types: ['user', 'group', 'servicePrincipal', 'directoryObjectPartnerReference'],
      },
    });
    expect(response.statusCode).toBe(200);
    const value = json<{ value: Record<string, unknown>[] }>(response).value;
    expect(value).toHaveLength(1);
    expect(value[0]).toMatchObject({
      '@odata.type': '#microsoft.graph.servicePrincipal',
      id: sp.objectId,
    });
  });
});
