/**
 * `acr scope-map ...`, `acr token ...` and `acr token credential generate` against a live
 * server's ARM routes; the generated password works on the data endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server.js';
import { startCliSession, type CliSession, dataRequest } from './cli.js';
import { pushImage } from './push.js';

let session: CliSession;
let server: RunningServer;
let registryId: string;
const run = (...args: string[]) => session.run(...args);

beforeAll(async () => {
  session = await startCliSession();
  ({ server } = session);
  expect(run('login').status).toBe(0);
  registryId = run('acr', 'show', '-n', 'myregistry', '--query', 'id', '-o', 'tsv').stdout.trim();
  await pushImage(server, 'hello', 'v1');
});

afterAll(async () => {
  await session?.close();
});

interface Password {
  name: string;
  value?: string;
  expiry: string | null;
  creationTime: string;
}

describe('acr scope-map', () => {
  it('creates a scope map from repeated --repository groups', () => {
    const result = run(
      'acr',
      'scope-map',
      'create',
      '--name',
      'readers',
      '--registry',
      'myregistry',
      '--repository',
      'hello',
      'content/read',
      'metadata/read',
      '--repository',
      'other',
      'content/write',
      '--description',
      'Readers of hello',
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.json()).toMatchObject({
      actions: [
        'repositories/hello/content/read',
        'repositories/hello/metadata/read',
        'repositories/other/content/write',
      ],
      description: 'Readers of hello',
      id: `${registryId}/scopeMaps/readers`,
      name: 'readers',
      provisioningState: 'Succeeded',
      resourceGroup: 'breakwater',
      type: 'Microsoft.ContainerRegistry/registries/scopeMaps',
      typePropertiesType: 'UserDefined',
    });
    expect(result.json()).not.toHaveProperty('properties');
  });

  it('adds and removes repository actions', () => {
    const result = run(
      'acr',
      'scope-map',
      'update',
      '-n',
      'readers',
      '-r',
      'myregistry',
      '--add-repository',
      'third',
      'metadata/read',
      '--remove-repository',
      'OTHER',
      'Content/Write',
      '--query',
      'actions',
    );
    expect(result.status).toBe(0);
    expect(result.json()).toEqual([
      'repositories/hello/content/read',
      'repositories/hello/metadata/read',
      'repositories/third/metadata/read',
    ]);
    const empty = run('acr', 'scope-map', 'update', '-n', 'readers', '-r', 'myregistry');
    expect(empty.status).toBe(1);
    expect(empty.stderr).toMatch(/^ERROR: At least one of the following arguments is required/);
  });

  it('shows and lists, including the built-in scope maps', () => {
    const shown = run(
      'acr',
      'scope-map',
      'show',
      '-n',
      'readers',
      '-r',
      'myregistry',
      '--query',
      'name',
      '-o',
      'tsv',
    );
    expect(shown.stdout).toBe('readers\n');
    const listed = run('acr', 'scope-map', 'list', '-r', 'myregistry', '--query', '[].name');
    expect(listed.status).toBe(0);
    expect(listed.json<string[]>()).toContain('readers');
    expect(listed.json<string[]>()).toContain('_repositories_pull');
  });

  it('reports a bad action and a missing group in one line', () => {
    const bad = run(
      'acr',
      'scope-map',
      'create',
      '-n',
      'badmap',
      '-r',
      'myregistry',
      '--repository',
      'hello',
      'content/fly',
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^ERROR: /);
    const noActions = run(
      'acr',
      'scope-map',
      'create',
      '-n',
      'badmap',
      '-r',
      'myregistry',
      '--repository',
      'hello',
    );
    expect(noActions.status).toBe(1);
    expect(noActions.stderr).toBe(
      'ERROR: usage error: --repository REPOSITORY ACTION [ACTION ...]\n',
    );
    const missing = run('acr', 'scope-map', 'show', '-n', 'nosuchmap', '-r', 'myregistry');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^ERROR: .*nosuchmap/);
  });
});

describe('acr token', () => {
  let password1: string;

  it('creates a token with --repository, a scope map named after it, and passwords', async () => {
    const result = run(
      'acr',
      'token',
      'create',
      '--name',
      'ci-token',
      '--registry',
      'myregistry',
      '--repository',
      'hello',
      'content/read',
      'metadata/read',
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const token = result.json<{
      credentials: { certificates: unknown[]; passwords: Password[]; username: string };
      [key: string]: unknown;
    }>();
    expect(token).toMatchObject({
      id: `${registryId}/tokens/ci-token`,
      name: 'ci-token',
      objectId: null,
      provisioningState: 'Succeeded',
      resourceGroup: 'breakwater',
      scopeMapId: `${registryId}/scopeMaps/ci-token-scope-map`,
      status: 'enabled',
      type: 'Microsoft.ContainerRegistry/registries/tokens',
    });
    expect(token.credentials.username).toBe('ci-token');
    expect(token.credentials.certificates).toEqual([]);
    expect(token.credentials.passwords.map((p) => p.name)).toEqual(['password1', 'password2']);
    expect(token.credentials.passwords[0]!.value).toEqual(expect.any(String));
    password1 = token.credentials.passwords[0]!.value!;

    const map = run(
      'acr',
      'scope-map',
      'show',
      '-n',
      'ci-token-scope-map',
      '-r',
      'myregistry',
      '--query',
      'actions',
    );
    expect(map.json()).toEqual([
      'repositories/hello/content/read',
      'repositories/hello/metadata/read',
    ]);

    const basic = Buffer.from(`ci-token:${password1}`).toString('base64');
    const tags = await dataRequest(`${server.url}/v2/hello/tags/list`, {
      headers: { authorization: `Basic ${basic}` },
    });
    expect(tags.status).toBe(200);
  });

  it('creates a token on an existing scope map without passwords, and with an expiry', () => {
    const bare = run(
      'acr',
      'token',
      'create',
      '-n',
      'bare-token',
      '-r',
      'myregistry',
      '--scope-map',
      'readers',
      '--no-passwords',
      '--status',
      'disabled',
    );
    expect(bare.status).toBe(0);
    expect(bare.json()).toMatchObject({
      status: 'disabled',
      scopeMapId: `${registryId}/scopeMaps/readers`,
      credentials: { passwords: [], username: 'bare-token' },
    });
    const expiring = run(
      'acr',
      'token',
      'create',
      '-n',
      'short-token',
      '-r',
      'myregistry',
      '--scope-map',
      '_repositories_pull',
      '--expiration-in-days',
      '30',
    );
    expect(expiring.status).toBe(0);
    const expiry = Date.parse(
      expiring.json<{ credentials: { passwords: Password[] } }>().credentials.passwords[0]!.expiry!,
    );
    expect(Math.abs(expiry - (Date.now() + 30 * 86_400_000))).toBeLessThan(120_000);
  });

  it('refuses --scope-map together with --repository, and neither', () => {
    const both = run(
      'acr',
      'token',
      'create',
      '-n',
      'x-token',
      '-r',
      'myregistry',
      '--scope-map',
      'readers',
      '--repository',
      'hello',
      'content/read',
    );
    expect(both.status).toBe(1);
    expect(both.stderr).toBe(
      'ERROR: usage error: --scope-map SCOPE_MAP | --repository REPOSITORY ACTION ...\n',
    );
    const neither = run('acr', 'token', 'create', '-n', 'x-token', '-r', 'myregistry');
    expect(neither.status).toBe(1);
    const missingMap = run(
      'acr',
      'token',
      'create',
      '-n',
      'x-token',
      '-r',
      'myregistry',
      '--scope-map',
      'nosuchmap',
    );
    expect(missingMap.status).toBe(1);
    expect(missingMap.stderr).toMatch(/^ERROR: .*nosuchmap/);
    expect(run('acr', 'token', 'show', '-n', 'x-token', '-r', 'myregistry').status).toBe(1);
  });

  it('shows, lists and updates tokens; a disabled token cannot pull', async () => {
    const shown = run('acr', 'token', 'show', '-n', 'ci-token', '-r', 'myregistry');
    expect(shown.status).toBe(0);
    const passwords = shown.json<{ credentials: { passwords: Password[] } }>().credentials
      .passwords;
    expect(passwords.map((p) => p.name)).toEqual(['password1', 'password2']);
    expect(passwords[0]).not.toHaveProperty('value');
    const listed = run(
      'acr',
      'token',
      'list',
      '-r',
      'myregistry',
      '--query',
      '[].name',
      '-o',
      'tsv',
    );
    expect(listed.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'bare-token',
      'ci-token',
      'short-token',
    ]);

    const disabled = run(
      'acr',
      'token',
      'update',
      '-n',
      'ci-token',
      '-r',
      'myregistry',
      '--status',
      'disabled',
    );
    expect(disabled.status).toBe(0);
    expect(disabled.json()).toMatchObject({
      status: 'disabled',
      scopeMapId: `${registryId}/scopeMaps/ci-token-scope-map`,
    });
    const basic = Buffer.from(`ci-token:${password1}`).toString('base64');
    const refused = await dataRequest(`${server.url}/v2/hello/tags/list`, {
      headers: { authorization: `Basic ${basic}` },
    });
    expect(refused.status).toBe(401);
    const remapped = run(
      'acr',
      'token',
      'update',
      '-n',
      'ci-token',
      '-r',
      'myregistry',
      '--scope-map',
      'readers',
      '--status',
      'enabled',
    );
    expect(remapped.json()).toMatchObject({
      status: 'enabled',
      scopeMapId: `${registryId}/scopeMaps/readers`,
    });
    const badStatus = run(
      'acr',
      'token',
      'update',
      '-n',
      'ci-token',
      '-r',
      'myregistry',
      '--status',
      'paused',
    );
    expect(badStatus.status).toBe(1);
    expect(badStatus.stderr).toMatch(
      /^ERROR: option '--status <status>' argument 'paused' is invalid/,
    );
  });

  it('generates one password, replacing it', async () => {
    const result = run(
      'acr',
      'token',
      'credential',
      'generate',
      '-n',
      'ci-token',
      '-r',
      'myregistry',
      '--password1',
      '--expiration-in-days',
      '7',
    );
    expect(result.status).toBe(0);
    const generated = result.json<{ username: string; passwords: Password[] }>();
    expect(generated.username).toBe('ci-token');
    expect(generated.passwords.map((p) => p.name)).toEqual(['password1']);
    expect(generated.passwords[0]!.value).not.toBe(password1);
    const old = Buffer.from(`ci-token:${password1}`).toString('base64');
    expect(
      (
        await dataRequest(`${server.url}/v2/hello/tags/list`, {
          headers: { authorization: `Basic ${old}` },
        })
      ).status,
    ).toBe(401);
    const fresh = Buffer.from(`ci-token:${generated.passwords[0]!.value}`).toString('base64');
    expect(
      (
        await dataRequest(`${server.url}/v2/hello/tags/list`, {
          headers: { authorization: `Basic ${fresh}` },
        })
      ).status,
    ).toBe(200);
    const both = run(
      'acr',
      'token',
      'credential',
      'generate',
      '-n',
      'ci-token',
      '-r',
      'myregistry',
      '--query',
      'passwords[].name',
    );
    expect(both.json()).toEqual(['password1', 'password2']);
    const missing = run(
      'acr',
      'token',
      'credential',
      'generate',
      '-n',
      'nosuch-token',
      '-r',
      'myregistry',
    );
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^ERROR: .*nosuch-token/);
  });

  it('deletes tokens and scope maps, refusing a scope map still in use', () => {
    expect(run('acr', 'token', 'delete', '-n', 'bare-token', '-r', 'myregistry').stderr).toBe(
      'ERROR: Unable to prompt for confirmation as no tty available. Use --yes.\n',
    );
    const inUse = run('acr', 'scope-map', 'delete', '-n', 'readers', '-r', 'myregistry', '--yes');
    expect(inUse.status).toBe(1);
    expect(inUse.stderr).toMatch(/^ERROR: /);
    for (const token of ['bare-token', 'ci-token', 'short-token']) {
      expect(run('acr', 'token', 'delete', '-n', token, '-r', 'myregistry', '--yes').status).toBe(
        0,
      );
    }
    expect(
      run('acr', 'scope-map', 'delete', '-n', 'readers', '-r', 'myregistry', '-y').status,
    ).toBe(0);
    expect(run('acr', 'token', 'list', '-r', 'myregistry').json()).toEqual([]);
    const again = run('acr', 'token', 'delete', '-n', 'ci-token', '-r', 'myregistry', '--yes');
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^ERROR: .*ci-token/);
  });

  it('answers --help', () => {
    for (const args of [
      ['scope-map', 'create'],
      ['scope-map', 'update'],
      ['token', 'create'],
      ['token', 'credential', 'generate'],
    ]) {
      const result = run('acr', ...args, '--help');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('Usage: breakwater acr');
    }
  });
});
