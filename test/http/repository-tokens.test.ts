/**
 * ACR's non-Entra repository tokens: scope maps (user-defined and the built-in `_repositories_*`
 * maps), tokens with two passwords shown only once, and the data plane honouring exactly the
 * scope map, with revocation (disable, regenerate, delete) applying to the next request.
 */
import { describe, expect, it } from 'vitest';
import { basicAuth, errorCode } from '../support/app.js';
import {
  armError,
  getManifest,
  json,
  pushImage,
  pushImageAs,
  REGISTRY_API,
  registryId,
  withApp,
} from './arm-helpers.js';

interface GeneratedCredentials {
  username: string;
  passwords: { name: string; value: string; creationTime: string; expiry: string }[];
}

describe('repository tokens and scope maps', () => {
  const app = withApp();
  const url = (path: string) => `${registryId(app())}${path}?api-version=${REGISTRY_API}`;

  async function putScopeMap(name: string, actions: string[]) {
    return app().arm({
      method: 'PUT',
      url: url(`/scopeMaps/${name}`),
      payload: { properties: { actions, description: 'test' } },
    });
  }
  async function putToken(name: string, scopeMap: string, status = 'enabled') {
    return app().arm({
      method: 'PUT',
      url: url(`/tokens/${name}`),
      payload: { properties: { scopeMapId: `${registryId(app())}/scopeMaps/${scopeMap}`, status } },
    });
  }
  async function generate(
    name: string,
    which?: 'password1' | 'password2',
  ): Promise<GeneratedCredentials> {
    const response = await app().arm({
      method: 'POST',
      url: url('/generateCredentials'),
      payload: {
        tokenId: `${registryId(app())}/tokens/${name}`,
        ...(which ? { name: which } : {}),
      },
    });
    expect(response.statusCode).toBe(200);
    return json<GeneratedCredentials>(response);
  }

  it('grants exactly what the scope map lists', async () => {
    await pushImage(app(), 'team/base', 'v1');
    await pushImage(app(), 'secret/app', 'v1');
    expect(
      (
        await putScopeMap('teamwriter', [
          'repositories/team/*/content/read',
          'repositories/team/app/content/write',
        ])
      ).statusCode,
    ).toBe(201);
    expect((await putToken('ci-token', 'teamwriter')).statusCode).toBe(201);
    const credentials = await generate('ci-token');
    expect(credentials.username).toBe('ci-token');
    expect(credentials.passwords.map((p) => p.name)).toEqual(['password1', 'password2']);
    const auth = basicAuth('ci-token', credentials.passwords[0]!.value);

    expect((await getManifest(app(), auth, 'team/base', 'v1')).statusCode).toBe(200);
    expect((await pushImageAs(app(), auth, 'team/app', 'v2')).response.statusCode).toBe(201);
    const pushElsewhere = await pushImageAs(app(), auth, 'team/base', 'v2');
    expect(pushElsewhere.response.statusCode).toBe(403);
    expect(errorCode(pushElsewhere.response)).toBe('DENIED');
    expect((await getManifest(app(), auth, 'secret/app', 'v1')).statusCode).toBe(403);

    // Token endpoint: only the granted scopes come back.
    const token = await app().request({
      method: 'GET',
      url: '/oauth2/token?service=myregistry.azurecr.localhost&scope=repository:team/base:pull,push',
      auth,
    });
    const payload = JSON.parse(
      Buffer.from(JSON.parse(token.body).access_token.split('.')[1], 'base64url').toString(),
    ) as { access: unknown };
    expect(payload.access).toEqual([{ type: 'repository', name: 'team/base', actions: ['pull'] }]);
  });

  it('shows password values only when generated, never hashes', async () => {
    const response = await app().arm({ method: 'GET', url: url('/tokens/ci-token') });
    expect(response.statusCode).toBe(200);
    expect(response.body).not.toMatch(/"value"|"hash"|sha256\$/);
    const token = json<{
      properties: {
        status: string;
        scopeMapId: string;
        credentials: { passwords: { name: string }[] };
      };
    }>(response);
    expect(token.properties.status).toBe('enabled');
    expect(token.properties.credentials.passwords.map((p) => p.name)).toEqual([
      'password1',
      'password2',
    ]);
  });

  it('refuses a disabled token, a regenerated password and a deleted token at the next request', async () => {
    await putScopeMap('readonlymap', ['repositories/team/base/content/read']);
    await putToken('revoke-me', 'readonlymap');
    const first = await generate('revoke-me');
    const password1 = basicAuth('revoke-me', first.passwords[0]!.value);
    const password2 = basicAuth('revoke-me', first.passwords[1]!.value);
    expect((await getManifest(app(), password1, 'team/base', 'v1')).statusCode).toBe(200);

    await generate('revoke-me', 'password1');
    expect((await getManifest(app(), password1, 'team/base', 'v1')).statusCode).toBe(401);
    expect((await getManifest(app(), password2, 'team/base', 'v1')).statusCode).toBe(200);

    await putToken('revoke-me', 'readonlymap', 'disabled');
    expect((await getManifest(app(), password2, 'team/base', 'v1')).statusCode).toBe(401);
    await putToken('revoke-me', 'readonlymap', 'enabled');
    expect((await getManifest(app(), password2, 'team/base', 'v1')).statusCode).toBe(200);

    await app().arm({ method: 'DELETE', url: url('/tokens/revoke-me') });
    expect((await getManifest(app(), password2, 'team/base', 'v1')).statusCode).toBe(401);
  });

  it('offers the built-in scope maps', async () => {
    const list = await app().arm({ method: 'GET', url: url('/scopeMaps') });
    const names = json<{ value: { name: string; properties: { type: string } }[] }>(list).value.map(
      (m) => m.name,
    );
    expect(names).toEqual(
      expect.arrayContaining([
        '_repositories_pull',
        '_repositories_push',
        '_repositories_admin',
        'teamwriter',
      ]),
    );
    await putToken('puller1', '_repositories_pull');
    const auth = basicAuth('puller1', (await generate('puller1')).passwords[0]!.value);
    expect((await getManifest(app(), auth, 'secret/app', 'v1')).statusCode).toBe(200);
    expect((await pushImageAs(app(), auth, 'secret/app', 'v9')).response.statusCode).toBe(403);
  });

  it('validates scope maps and tokens with clear errors', async () => {
    const badAction = await putScopeMap('badmap1', ['repositories/x/content/explode']);
    expect(badAction.statusCode).toBe(400);
    expect(armError(badAction).code).toBe('InvalidScopeMapAction');
    const missingMap = await putToken('orphan1', 'nosuchmap');
    expect(missingMap.statusCode).toBe(400);
    expect(armError(missingMap).code).toBe('InvalidScopeMapId');
    const inUse = await app().arm({ method: 'DELETE', url: url('/scopeMaps/teamwriter') });
    expect(inUse.statusCode).toBe(400);
    expect(armError(inUse).code).toBe('ScopeMapInUse');
    const shortName = await putToken('abc', 'teamwriter');
    expect(armError(shortName).code).toBe('InvalidTokenName');
  });
});
