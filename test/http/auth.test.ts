/**
 * Data-plane authentication and authorization through `inject`, judged by what a client sees
 * (status, OCI error code, headers, token claims): the challenge, the Docker token flow, role
 * assignments, forged and stale credentials, `/oauth2/exchange`, secret revocation, the admin
 * user, ABAC repository permissions, anonymous pull and managed identities.
 */
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { SigningKeys } from '../../src/identity/index.js';
import { basicAuth, errorCode, type TestApp } from '../support/app.js';
import {
  ACR_AUDIENCE,
  ACR_SCOPE,
  ARM_SCOPE,
  accessTokenOf,
  armError,
  assignRole,
  basicToken,
  decodeJwt,
  deleteAssignment,
  errorMessage,
  exchange,
  getManifest,
  groupId,
  identityToken,
  json,
  LOGIN_SERVER,
  newServicePrincipal,
  NULL_GUID,
  patchRegistry,
  pushImage,
  pushImageAs,
  refreshGrant,
  refreshTokenFor,
  REGISTRY_API,
  registryId,
  unsignedJwt,
  withApp,
  type ServicePrincipal,
} from './arm-helpers.js';

const REALM =
  'Bearer realm="http://registry.test/oauth2/token",service="myregistry.azurecr.localhost"';
const DENIED = 'requested access to the resource is denied';

const bearer = (token: string) => `Bearer ${token}`;
const refreshBasic = (refreshToken: string) => basicAuth(NULL_GUID, refreshToken);
const spBasic = (sp: ServicePrincipal) => basicAuth(sp.appId, sp.secret);

async function base(test: TestApp, auth: string | false) {
  return test.request({ method: 'GET', url: '/v2/', auth });
}

describe('the challenge', () => {
  const app = withApp();

  it('answers /v2/ without credentials with 401 UNAUTHORIZED and the exact ACR challenge', async () => {
    const response = await base(app(), false);
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
    expect(response.headers['www-authenticate']).toBe(REALM);
  });

  it('adds the pull scope to the challenge of a manifest GET', async () => {
    const response = await getManifest(app(), false, 'team/app', 'v1');
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
    expect(response.headers['www-authenticate']).toBe(`${REALM},scope="repository:team/app:pull"`);
  });

  it('asks for the catalog scope on /v2/_catalog', async () => {
    const response = await app().request({ method: 'GET', url: '/v2/_catalog', auth: false });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe(`${REALM},scope="registry:catalog:*"`);
  });

  it('points the realm at the host the client used', async () => {
    const response = await app().request({
      method: 'GET',
      url: '/v2/',
      auth: false,
      headers: { host: LOGIN_SERVER },
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe(
      `Bearer realm="http://${LOGIN_SERVER}/oauth2/token",service="${LOGIN_SERVER}"`,
    );
  });
});

describe('the Docker token flow with Basic credentials', () => {
  const app = withApp();

  it('issues a 75-minute ES256 access token listing the granted scope', async () => {
    const response = await basicToken(app(), app().ownerAuth, ['repository:x:pull,push']);
    expect(response.statusCode).toBe(200);
    const { header, payload } = decodeJwt(accessTokenOf(response));
    expect(header.alg).toBe('ES256');
    expect(typeof header.kid).toBe('string');
    expect(payload.access).toEqual([{ type: 'repository', name: 'x', actions: ['pull', 'push'] }]);
    expect(payload.aud).toBe(LOGIN_SERVER);
    expect(payload.iss).toBe('Azure Container Registry');
    expect(Number(payload.exp) - Number(payload.iat)).toBe(4500);
  });

  it('lets the bearer push and then pull in its repository', async () => {
    const token = accessTokenOf(
      await basicToken(app(), app().ownerAuth, ['repository:x:pull,push']),
    );
    const { response, digest } = await pushImageAs(app(), bearer(token), 'x', 'v1');
    expect(response.statusCode).toBe(201);
    const pulled = await getManifest(app(), bearer(token), 'x', 'v1');
    expect(pulled.statusCode).toBe(200);
    expect(pulled.headers['docker-content-digest']).toBe(digest);
  });

  it('answers a bearer used outside its scope with 401 and a challenge for that scope', async () => {
    await pushImage(app(), 'y', 'v1');
    const token = accessTokenOf(await basicToken(app(), app().ownerAuth, ['repository:x:pull']));
    const response = await getManifest(app(), bearer(token), 'y', 'v1');
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
    expect(response.headers['www-authenticate']).toBe(`${REALM},scope="repository:y:pull"`);
  });
});

describe('a service principal with AcrPull on the registry', () => {
  const app = withApp();
  let sp: ServicePrincipal;
  let digest: string;
  let assignment: string;
  let pullToken: string;

  it('gets AcrPull through an ARM role assignment PUT', async () => {
    digest = await pushImage(app(), 'shared/app', 'v1');
    sp = await newServicePrincipal(app(), 'puller');
    const { response, id } = await assignRole(app(), registryId(app()), sp.objectId, 'AcrPull');
    assignment = id;
    expect(response.statusCode).toBe(201);
    const body = json<{ properties: Record<string, string> }>(response);
    expect(body.properties.roleDefinitionId).toMatch(/7f951dda-4ed3-4680-a7ca-43fe172d538d$/);
    expect(body.properties.principalId).toBe(sp.objectId);
    expect(body.properties.scope).toBe(registryId(app()));
  });

  it('pulls an image the owner pushed, with Basic credentials', async () => {
    const response = await getManifest(app(), spBasic(sp), 'shared/app', 'v1');
    expect(response.statusCode).toBe(200);
    expect(response.headers['docker-content-digest']).toBe(digest);
  });

  it('is granted only pull when it asks for pull,push, and pulls with that token', async () => {
    const response = await basicToken(app(), spBasic(sp), ['repository:shared/app:pull,push']);
    expect(response.statusCode).toBe(200);
    pullToken = accessTokenOf(response);
    expect(decodeJwt(pullToken).payload.access).toEqual([
      { type: 'repository', name: 'shared/app', actions: ['pull'] },
    ]);
    const pulled = await getManifest(app(), bearer(pullToken), 'shared/app', 'v1');
    expect(pulled.statusCode).toBe(200);
    expect(pulled.headers['docker-content-digest']).toBe(digest);
  });

  it('is refused push with 403 DENIED, with Basic and with its pull-only bearer', async () => {
    for (const auth of [spBasic(sp), bearer(pullToken)]) {
      const upload = await app().request({
        method: 'POST',
        url: '/v2/shared/app/blobs/uploads/',
        auth,
      });
      expect(upload.statusCode).toBe(403);
      expect(errorCode(upload)).toBe('DENIED');
      expect(errorMessage(upload)).toBe(DENIED);
      const { response } = await pushImageAs(app(), auth, 'shared/app', 'v2');
      expect(response.statusCode).toBe(403);
      expect(errorCode(response)).toBe('DENIED');
    }
  });

  it('loses access at once when the assignment is deleted', async () => {
    const deleted = await deleteAssignment(app(), assignment);
    expect(deleted.statusCode).toBe(200);
    const token = await basicToken(app(), spBasic(sp), ['repository:shared/app:pull']);
    expect(token.statusCode).toBe(401);
    expect(errorCode(token)).toBe('UNAUTHORIZED');
    const pulled = await getManifest(app(), spBasic(sp), 'shared/app', 'v1');
    expect(pulled.statusCode).toBe(403);
    expect(errorCode(pulled)).toBe('DENIED');
    expect(errorMessage(pulled)).toBe(DENIED);
  });
});

describe('forged and stale credentials', () => {
  const app = withApp();
  let real: string;

  it('accepts the genuine access token (control)', async () => {
    await pushImage(app(), 'x', 'v1');
    real = accessTokenOf(await basicToken(app(), app().ownerAuth, ['repository:x:pull']));
    expect((await base(app(), bearer(real))).statusCode).toBe(200);
    expect((await getManifest(app(), bearer(real), 'x', 'v1')).statusCode).toBe(200);
  });

  async function expectRefused(token: string) {
    for (const response of [
      await base(app(), bearer(token)),
      await getManifest(app(), bearer(token), 'x', 'v1'),
    ]) {
      expect(response.statusCode).toBe(401);
      expect(errorCode(response)).toBe('UNAUTHORIZED');
      expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="/);
    }
  }

  it('refuses a token with alg none', async () => {
    const { header, payload } = decodeJwt(real);
    await expectRefused(unsignedJwt(payload, { kid: header.kid }));
  });

  it('refuses a token signed with a foreign ES256 key, whatever its kid', async () => {
    const { header, payload } = decodeJwt(real);
    const { privateKey } = await generateKeyPair('ES256');
    for (const kid of [String(header.kid), 'foreign-key']) {
      const forged = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
        .sign(privateKey);
      await expectRefused(forged);
    }
  });

  it('refuses a token minted by another registry (wrong audience)', async () => {
    const created = await app().arm({
      method: 'PUT',
      url: `${registryId(app(), 'otherreg1')}?api-version=${REGISTRY_API}`,
      payload: { location: 'local', sku: { name: 'Premium' } },
    });
    expect(created.statusCode).toBe(201);
    const other = 'otherreg1.azurecr.localhost';
    const token = accessTokenOf(
      await basicToken(app(), app().ownerAuth, ['repository:x:pull'], other),
    );
    expect(decodeJwt(token).payload.aud).toBe(other);
    const there = await app().request({
      method: 'GET',
      url: '/v2/',
      auth: bearer(token),
      headers: { host: other },
    });
    expect(there.statusCode).toBe(200);
    await expectRefused(token);
  });

  it('refuses an expired access token signed with the real registry key', async () => {
    const keys = await SigningKeys.open(join(app().dataDir, 'keys'), 'registry');
    const { payload } = decodeJwt(real);
    const now = Math.floor(Date.now() / 1000);
    const sign = (iat: number, exp: number) =>
      new SignJWT({ ...payload, iat, nbf: iat, exp })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: keys.current.kid })
        .sign(keys.current.privateKey);
    // Control: the same construction, still valid, is accepted.
    expect((await base(app(), bearer(await sign(now - 60, now + 600)))).statusCode).toBe(200);
    await expectRefused(await sign(now - 7200, now - 2700));
  });

  it('refuses a refresh token presented as an access token', async () => {
    const identity = await identityToken(
      app(),
      app().owner.clientId,
      app().owner.clientSecret,
      ACR_SCOPE,
    );
    const refresh = await refreshTokenFor(app(), identity);
    expect((await base(app(), refreshBasic(refresh))).statusCode).toBe(200);
    await expectRefused(refresh);
  });
});

describe('/oauth2/exchange', () => {
  const app = withApp();
  let armToken: string;
  let acrToken: string;
  let refresh: string;

  it('exchanges an ARM-audience identity token for a 3-hour refresh token', async () => {
    const { clientId, clientSecret } = app().owner;
    armToken = await identityToken(app(), clientId, clientSecret, ARM_SCOPE);
    acrToken = await identityToken(app(), clientId, clientSecret, ACR_SCOPE);
    const response = await exchange(app(), armToken);
    expect(response.statusCode).toBe(200);
    refresh = json<{ refresh_token: string }>(response).refresh_token;
    const { payload } = decodeJwt(refresh);
    expect(Number(payload.exp) - Number(payload.iat)).toBe(3 * 3600);
    expect(payload.aud).toBe(LOGIN_SERVER);
    expect(payload.iss).toBe('Azure Container Registry');
  });

  it('accepts an ACR-audience identity token too', async () => {
    const response = await exchange(app(), acrToken);
    expect(response.statusCode).toBe(200);
    expect(typeof json<{ refresh_token: string }>(response).refresh_token).toBe('string');
  });

  it('takes the refresh token as Basic password of the null GUID', async () => {
    const response = await base(app(), refreshBasic(refresh));
    expect(response.statusCode).toBe(200);
  });

  it('turns the refresh token into an access token that pulls', async () => {
    const digest = await pushImage(app(), 'ex/app', 'v1');
    const response = await refreshGrant(app(), refresh, ['repository:ex/app:pull']);
    expect(response.statusCode).toBe(200);
    const token = accessTokenOf(response);
    expect(decodeJwt(token).payload.access).toEqual([
      { type: 'repository', name: 'ex/app', actions: ['pull'] },
    ]);
    const pulled = await getManifest(app(), bearer(token), 'ex/app', 'v1');
    expect(pulled.statusCode).toBe(200);
    expect(pulled.headers['docker-content-digest']).toBe(digest);
  });

  it('refuses a tenant that is not the token’s with 401', async () => {
    const response = await exchange(app(), acrToken, {
      tenant: '11111111-2222-3333-4444-555555555555',
    });
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
  });

  it('refuses ARM-audience tokens while azureADAuthenticationAsArmPolicy is disabled', async () => {
    const disabled = await patchRegistry(app(), {
      policies: { azureADAuthenticationAsArmPolicy: { status: 'disabled' } },
    });
    expect(disabled.statusCode).toBe(200);
    const properties = json<{ properties: { policies: Record<string, { status: string }> } }>(
      disabled,
    ).properties;
    expect(properties.policies.azureADAuthenticationAsArmPolicy?.status).toBe('disabled');

    const refused = await exchange(app(), armToken);
    expect(refused.statusCode).toBe(401);
    expect(errorCode(refused)).toBe('UNAUTHORIZED');
    expect((await exchange(app(), acrToken)).statusCode).toBe(200);

    const enabled = await patchRegistry(app(), {
      policies: { azureADAuthenticationAsArmPolicy: { status: 'enabled' } },
    });
    expect(enabled.statusCode).toBe(200);
    expect((await exchange(app(), armToken)).statusCode).toBe(200);
  });
});

describe('secret revocation', () => {
  const app = withApp();
  let sp: ServicePrincipal;
  let second: { secret: string; secretId: string };
  let identity: string;
  let refresh: string;

  it('accepts a second secret for Basic and for an identity token', async () => {
    sp = await newServicePrincipal(app(), 'rotating');
    second = await app().platform.identity.addSecret(sp.objectId);
    expect((await base(app(), basicAuth(sp.appId, second.secret))).statusCode).toBe(200);
    identity = await identityToken(app(), sp.appId, second.secret, ACR_SCOPE);
    refresh = await refreshTokenFor(app(), identity);
    expect((await base(app(), refreshBasic(refresh))).statusCode).toBe(200);
  });

  it('refuses Basic with the deleted secret, and keeps the other secret working', async () => {
    expect(await app().platform.controlPlane.deleteSecret(second.secretId)).toBe(true);
    const response = await base(app(), basicAuth(sp.appId, second.secret));
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
    expect((await base(app(), spBasic(sp))).statusCode).toBe(200);
  });

  it('refuses the refresh token obtained through the deleted secret at its next use', async () => {
    const response = await base(app(), refreshBasic(refresh));
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
    const grant = await refreshGrant(app(), refresh, ['repository:x:pull']);
    expect(grant.statusCode).toBe(401);
    expect((await exchange(app(), identity)).statusCode).toBe(401);
  });
});

describe('the admin user', () => {
  const app = withApp();
  const admin = (password: string) => basicAuth('myregistry', password);
  let password: string;
  let password2: string;
  let accessWithPassword: string;
  let accessWithPassword2: string;
  let refreshWithPassword: string;

  it('is refused while disabled', async () => {
    const response = await base(app(), admin('anything'));
    expect(response.statusCode).toBe(401);
  });

  it('is enabled by PATCH and listCredentials shows two passwords', async () => {
    const patched = await patchRegistry(app(), { adminUserEnabled: true });
    expect(patched.statusCode).toBe(200);
    expect(json<{ properties: { adminUserEnabled: boolean } }>(patched).properties).toMatchObject({
      adminUserEnabled: true,
    });
    const listed = await app().arm({
      method: 'POST',
      url: `${registryId(app())}/listCredentials?api-version=${REGISTRY_API}`,
    });
    expect(listed.statusCode).toBe(200);
    const body = json<{ username: string; passwords: { name: string; value: string }[] }>(listed);
    expect(body.username).toBe('myregistry');
    expect(body.passwords.map((p) => p.name)).toEqual(['password', 'password2']);
    password = body.passwords[0]!.value;
    password2 = body.passwords[1]!.value;
    expect(password).toBeTruthy();
    expect(password2).toBeTruthy();
    expect(password).not.toBe(password2);
  });

  it('pushes and pulls with Basic admin credentials', async () => {
    const { response, digest } = await pushImageAs(app(), admin(password), 'admin/app', 'v1');
    expect(response.statusCode).toBe(201);
    const pulled = await getManifest(app(), admin(password2), 'admin/app', 'v1');
    expect(pulled.statusCode).toBe(200);
    expect(pulled.headers['docker-content-digest']).toBe(digest);
  });

  it('gets tokens with its passwords', async () => {
    accessWithPassword = accessTokenOf(
      await basicToken(app(), admin(password), ['repository:admin/app:pull']),
    );
    accessWithPassword2 = accessTokenOf(
      await basicToken(app(), admin(password2), ['repository:admin/app:pull']),
    );
    // A refresh token for the same subject, signed as the registry signs them.
    const subject = decodeJwt(accessWithPassword).payload.sbj as Parameters<
      TestApp['platform']['registryTokens']['refreshToken']
    >[0];
    refreshWithPassword = await app().platform.registryTokens.refreshToken(subject, LOGIN_SERVER);
    expect(
      (await getManifest(app(), bearer(accessWithPassword), 'admin/app', 'v1')).statusCode,
    ).toBe(200);
    expect((await base(app(), refreshBasic(refreshWithPassword))).statusCode).toBe(200);
  });

  it('refuses the old password and its tokens after regenerateCredential', async () => {
    const regenerated = await app().arm({
      method: 'POST',
      url: `${registryId(app())}/regenerateCredential?api-version=${REGISTRY_API}`,
      payload: { name: 'password' },
    });
    expect(regenerated.statusCode).toBe(200);
    const body = json<{ passwords: { name: string; value: string }[] }>(regenerated);
    const fresh = body.passwords.find((p) => p.name === 'password')!.value;
    expect(fresh).not.toBe(password);
    expect(body.passwords.find((p) => p.name === 'password2')!.value).toBe(password2);

    const old = await base(app(), admin(password));
    expect(old.statusCode).toBe(401);
    expect(errorCode(old)).toBe('UNAUTHORIZED');
    expect((await base(app(), admin(fresh))).statusCode).toBe(200);
    const oldAccess = await getManifest(app(), bearer(accessWithPassword), 'admin/app', 'v1');
    expect(oldAccess.statusCode).toBe(401);
    expect((await base(app(), refreshBasic(refreshWithPassword))).statusCode).toBe(401);
    // The other password's token is untouched.
    expect(
      (await getManifest(app(), bearer(accessWithPassword2), 'admin/app', 'v1')).statusCode,
    ).toBe(200);
    password = fresh;
  });

  it('is refused again once disabled', async () => {
    expect((await patchRegistry(app(), { adminUserEnabled: false })).statusCode).toBe(200);
    for (const secret of [password, password2]) {
      const response = await base(app(), admin(secret));
      expect(response.statusCode).toBe(401);
      expect(errorCode(response)).toBe('UNAUTHORIZED');
    }
    expect((await base(app(), bearer(accessWithPassword2))).statusCode).toBe(401);
  });
});

describe('ABAC repository permissions', () => {
  const app = withApp();
  const condition = [
    '(',
    ' (',
    "  !(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'})",
    '  AND',
    "  !(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/metadata/read'})",
    ' )',
    ' OR',
    ' (',
    "  @Request[Microsoft.ContainerRegistry/registries/repositories:name] StringEqualsIgnoreCase 'nginx'",
    ' )',
    ')',
  ].join('\n');
  let reader: ServicePrincipal;
  let puller: ServicePrincipal;

  it('switches the registry to AbacRepositoryPermissions', async () => {
    await pushImage(app(), 'nginx', 'v1');
    await pushImage(app(), 'other', 'v1');
    reader = await newServicePrincipal(app(), 'abac-reader');
    puller = await newServicePrincipal(app(), 'legacy-puller');
    const patched = await patchRegistry(app(), { roleAssignmentMode: 'AbacRepositoryPermissions' });
    expect(patched.statusCode).toBe(200);
    expect(json<{ properties: { roleAssignmentMode: string } }>(patched).properties).toMatchObject({
      roleAssignmentMode: 'AbacRepositoryPermissions',
    });
  });

  it('refuses a malformed condition at PUT with 400 InvalidCondition', async () => {
    const { response } = await assignRole(
      app(),
      registryId(app()),
      reader.objectId,
      'Container Registry Repository Reader',
      {
        condition:
          "(@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringEqualsIgnoreCase 'nginx'",
        conditionVersion: '2.0',
      },
    );
    expect(response.statusCode).toBe(400);
    expect(armError(response).code).toBe('InvalidCondition');
  });

  it('lets a conditioned Repository Reader pull nginx and nothing else', async () => {
    const { response } = await assignRole(
      app(),
      registryId(app()),
      reader.objectId,
      'Container Registry Repository Reader',
      { condition, conditionVersion: '2.0' },
    );
    expect(response.statusCode).toBe(201);
    expect(json<{ properties: { condition: string } }>(response).properties.condition).toBe(
      condition,
    );
    expect((await getManifest(app(), spBasic(reader), 'nginx', 'v1')).statusCode).toBe(200);
    const other = await getManifest(app(), spBasic(reader), 'other', 'v1');
    expect(other.statusCode).toBe(403);
    expect(errorCode(other)).toBe('DENIED');
    const token = await basicToken(app(), spBasic(reader), [
      'repository:nginx:pull',
      'repository:other:pull',
    ]);
    expect(decodeJwt(accessTokenOf(token)).payload.access).toEqual([
      { type: 'repository', name: 'nginx', actions: ['pull'] },
    ]);
  });

  it('honours neither AcrPull nor the subscription Owner on the data plane', async () => {
    const { response } = await assignRole(app(), registryId(app()), puller.objectId, 'AcrPull');
    expect(response.statusCode).toBe(201);
    const pulled = await getManifest(app(), spBasic(puller), 'nginx', 'v1');
    expect(pulled.statusCode).toBe(403);
    expect(errorCode(pulled)).toBe('DENIED');
    expect((await basicToken(app(), spBasic(puller), ['repository:nginx:pull'])).statusCode).toBe(
      401,
    );
    expect((await getManifest(app(), app().ownerAuth, 'nginx', 'v1')).statusCode).toBe(403);
  });

  it('honours AcrPull again after switching back to LegacyRegistryPermissions', async () => {
    const patched = await patchRegistry(app(), { roleAssignmentMode: 'LegacyRegistryPermissions' });
    expect(patched.statusCode).toBe(200);
    expect((await getManifest(app(), spBasic(puller), 'nginx', 'v1')).statusCode).toBe(200);
  });
});

describe('anonymous pull', () => {
  const app = withApp();

  it('is off by default', async () => {
    await pushImage(app(), 'public/app', 'v1');
    const response = await getManifest(app(), false, 'public/app', 'v1');
    expect(response.statusCode).toBe(401);
  });

  it('lets clients without credentials pull once enabled', async () => {
    expect((await patchRegistry(app(), { anonymousPullEnabled: true })).statusCode).toBe(200);
    const response = await getManifest(app(), false, 'public/app', 'v1');
    expect(response.statusCode).toBe(200);
  });

  it('still refuses push without credentials with 401', async () => {
    const upload = await app().request({
      method: 'POST',
      url: '/v2/public/app/blobs/uploads/',
      auth: false,
    });
    expect(upload.statusCode).toBe(401);
    expect(errorCode(upload)).toBe('UNAUTHORIZED');
    const { response } = await pushImageAs(app(), false, 'public/app', 'v2');
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
  });

  it('still challenges /v2/ without credentials', async () => {
    const response = await base(app(), false);
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe(REALM);
  });

  it('gives an anonymous token for pull only', async () => {
    const response = await basicToken(app(), false, ['repository:public/app:pull,push']);
    expect(response.statusCode).toBe(200);
    expect(decodeJwt(accessTokenOf(response)).payload.access).toEqual([
      { type: 'repository', name: 'public/app', actions: ['pull'] },
    ]);
  });

  it('refuses pull without credentials again once disabled', async () => {
    expect((await patchRegistry(app(), { anonymousPullEnabled: false })).statusCode).toBe(200);
    const response = await getManifest(app(), false, 'public/app', 'v1');
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
  });
});

describe('managed identities', () => {
  const app = withApp();
  let identityId: string;
  let clientId: string;
  let groupResource: string;
  let siteResource: string;
  let groupRefresh: string;
  let groupIdentityToken: string;

  it('creates a user-assigned identity, a container group using it and a web app', async () => {
    identityId = `${groupId(app())}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1`;
    const identity = await app().arm({
      method: 'PUT',
      url: `${identityId}?api-version=2023-01-31`,
      payload: { location: 'local' },
    });
    expect(identity.statusCode).toBe(201);
    const properties = json<{ properties: { clientId: string; principalId: string } }>(
      identity,
    ).properties;
    clientId = properties.clientId;
    expect(clientId).toMatch(/^[0-9a-f-]{36}$/);

    // An ML workspace as the identity host (container groups deploy images; their tests are
    // in test/services/).
    groupResource = `${groupId(app())}/providers/Microsoft.MachineLearningServices/workspaces/ws1`;
    const group = await app().arm({
      method: 'PUT',
      url: `${groupResource}?api-version=2023-05-01`,
      payload: {
        location: 'local',
        identity: { type: 'UserAssigned', userAssignedIdentities: { [identityId]: {} } },
        properties: {},
      },
    });
    expect(group.statusCode).toBe(201);
    const attached = json<{
      identity: { userAssignedIdentities: Record<string, { clientId: string }> };
    }>(group).identity.userAssignedIdentities;
    expect(Object.values(attached).map((i) => i.clientId)).toEqual([clientId]);

    siteResource = `${groupId(app())}/providers/Microsoft.Web/sites/web1`;
    const site = await app().arm({
      method: 'PUT',
      url: `${siteResource}?api-version=2023-01-01`,
      payload: { location: 'local', identity: { type: 'SystemAssigned' } },
    });
    expect(site.statusCode).toBe(201);
    const sitePrincipal = json<{ identity: { principalId: string } }>(site).identity.principalId;
    expect(sitePrincipal).toMatch(/^[0-9a-f-]{36}$/);

    for (const principal of [properties.principalId, sitePrincipal]) {
      const { response } = await assignRole(app(), registryId(app()), principal, 'AcrPull');
      expect(response.statusCode).toBe(201);
    }
    await pushImage(app(), 'mi/app', 'v1');
  });

  it('lets the container group pull through its user-assigned identity', async () => {
    const { token } = await app().platform.identity.managedIdentityToken(
      groupResource,
      clientId,
      ACR_AUDIENCE,
    );
    groupIdentityToken = token;
    groupRefresh = await refreshTokenFor(app(), token);
    const response = await getManifest(app(), refreshBasic(groupRefresh), 'mi/app', 'v1');
    expect(response.statusCode).toBe(200);
  });

  it('lets the web app pull through its system-assigned identity', async () => {
    const { token } = await app().platform.identity.managedIdentityToken(
      siteResource,
      'system',
      ACR_AUDIENCE,
    );
    const refresh = await refreshTokenFor(app(), token);
    const response = await getManifest(app(), refreshBasic(refresh), 'mi/app', 'v1');
    expect(response.statusCode).toBe(200);
  });

  it('serves no token for an identity the resource does not hold', async () => {
    await expect(
      app().platform.identity.managedIdentityToken(siteResource, clientId, ACR_AUDIENCE),
    ).rejects.toThrow(/not assigned/);
    await expect(
      app().platform.identity.managedIdentityToken(groupResource, 'system', ACR_AUDIENCE),
    ).rejects.toThrow(/not assigned/);
  });

  it('stops the refresh token once the identity is detached from the workspace', async () => {
    const detached = await app().arm({
      method: 'PUT',
      url: `${groupResource}?api-version=2023-05-01`,
      payload: { location: 'local', identity: { type: 'None' }, properties: {} },
    });
    expect(detached.statusCode).toBe(200);
    const response = await getManifest(app(), refreshBasic(groupRefresh), 'mi/app', 'v1');
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
    expect((await exchange(app(), groupIdentityToken)).statusCode).toBe(401);
    await expect(
      app().platform.identity.managedIdentityToken(groupResource, clientId, ACR_AUDIENCE),
    ).rejects.toThrow(/not assigned/);
  });
});
