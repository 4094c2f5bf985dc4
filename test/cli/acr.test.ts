/**
 * The az-shaped CLI against a live `breakwater serve`: login, account, configure, acr show,
 * list, create, update, delete, network-rule, credential, login and check-health, with their
 * output formats and error paths.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server.js';
import { cli, makeConfigDir, startCliSession, type CliSession, dataRequest } from './cli.js';

let session: CliSession;
let server: RunningServer;
let configDir: string;
let env: Record<string, string>;
const run = (...args: string[]) => session.run(...args);

beforeAll(async () => {
  session = await startCliSession();
  ({ server, configDir, env } = session);
});

afterAll(async () => {
  await session?.close();
});

describe('login and account', () => {
  it('refuses commands before login', () => {
    const result = run('acr', 'show', '--name', 'myregistry');
    expect(result.status).toBe(1);
    expect(result.stderr).toBe("ERROR: Please run 'breakwater login' to setup account.\n");
    expect(result.stdout).toBe('');
  });

  it('rejects a bad secret with the identity service message', () => {
    const result = run(
      'login',
      '--service-principal',
      '-u',
      server.owner.clientId,
      '-p',
      'not-the-secret',
      '--tenant',
      server.owner.tenantId,
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^ERROR: AADSTS7000215: Invalid client secret provided\./);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(configDir, 'profile.json'))).toBe(false);
  });

  it('logs in as a service principal and stores a private profile', () => {
    const result = run(
      'login',
      '--service-principal',
      '-u',
      server.owner.clientId,
      '-p',
      server.owner.clientSecret,
      '--tenant',
      server.owner.tenantId,
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const accounts = result.json<{ id: string; isDefault: boolean; user: unknown }[]>();
    expect(accounts).toEqual([
      expect.objectContaining({
        id: server.owner.subscriptionId,
        isDefault: true,
        user: { name: server.owner.clientId, type: 'servicePrincipal' },
      }),
    ]);
    const file = join(configDir, 'profile.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const profile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(profile).toMatchObject({
      managementUrl: server.managementUrl,
      tenantId: server.owner.tenantId,
      subscriptionId: server.owner.subscriptionId,
      clientId: server.owner.clientId,
      caPath: server.caPath,
      dataEndpoint: server.host,
    });
  });

  it('logs in with the bootstrap owner when given no arguments', () => {
    expect(run('logout').status).toBe(0);
    expect(existsSync(join(configDir, 'profile.json'))).toBe(false);
    const result = run('login');
    expect(result.status).toBe(0);
    expect(existsSync(join(configDir, 'profile.json'))).toBe(true);
  });

  it('shows the account in az shape', () => {
    const result = run('account', 'show');
    expect(result.status).toBe(0);
    expect(result.json()).toEqual({
      environmentName: 'Breakwater',
      id: server.owner.subscriptionId,
      isDefault: true,
      name: expect.any(String),
      state: 'Enabled',
      tenantId: server.owner.tenantId,
      user: { name: server.owner.clientId, type: 'servicePrincipal' },
    });
  });
});

describe('acr show, list and output formats', () => {
  it('prints the flattened, sorted registry', () => {
    const result = run('acr', 'show', '--name', 'myregistry');
    expect(result.status).toBe(0);
    const registry = result.json<Record<string, unknown>>();
    expect(registry).toMatchObject({
      name: 'myregistry',
      loginServer: 'myregistry.azurecr.localhost',
      resourceGroup: 'breakwater',
      networkRuleBypassOptions: 'AzureServices',
      sku: { name: 'Premium', tier: 'Premium' },
    });
    expect(registry).not.toHaveProperty('properties');
    expect(registry.policies).toHaveProperty('azureAdAuthenticationAsArmPolicy');
    expect(Object.keys(registry)).toEqual([...Object.keys(registry)].sort());
  });

  it('prints az-like tables and tsv', () => {
    const table = run('acr', 'list', '-o', 'table');
    expect(table.status).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^NAME\s+RESOURCE GROUP\s+LOCATION\s+SKU\s+LOGIN SERVER\s+CREATION DATE\s+ADMIN ENABLED$/,
    );
    expect(lines[1]).toMatch(/^-+( +-+)+$/);
    expect(lines[2]).toMatch(
      /^myregistry\s+breakwater\s+\S+\s+Premium\s+myregistry\.azurecr\.localhost\s+\S+\s+False$/,
    );

    const queried = run(
      'acr',
      'show',
      '-n',
      'myregistry',
      '--query',
      '{n:name, s:sku.name}',
      '-o',
      'table',
    );
    expect(queried.stdout).toBe('N           S\n----------  -------\nmyregistry  Premium\n');

    const tsv = run('acr', 'list', '--query', '[].[name, adminUserEnabled]', '-o', 'tsv');
    expect(tsv.stdout).toBe('myregistry\tFalse\n');
  });

  it('reports an unknown registry as one ERROR line', () => {
    const result = run('acr', 'show', '--name', 'nosuchregistry');
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `ERROR: The resource with name 'nosuchregistry' and type 'Microsoft.ContainerRegistry/registries' could not be found in subscription 'Breakwater (${server.owner.subscriptionId})'.\n`,
    );
  });

  it('reports an ARM error message with -g', () => {
    const result = run('acr', 'show', '--name', 'nosuchregistry', '-g', 'breakwater');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^ERROR: The Resource 'Microsoft.ContainerRegistry\/registries\/nosuchregistry' under resource group 'breakwater' was not found\./,
    );
  });

  it('rejects bad usage on one line', () => {
    const unknown = run('acr', 'update', '--name', 'myregistry', '--bogus');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe("ERROR: unknown option '--bogus'\n");
    const badQuery = run('acr', 'show', '-n', 'myregistry', '--query', '[[');
    expect(badQuery.status).toBe(1);
    expect(badQuery.stderr).toMatch(/^ERROR: argument --query: invalid jmespath_type value/);
    expect(badQuery.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('answers --help on every command', () => {
    for (const args of [
      ['acr', 'update'],
      ['acr', 'network-rule', 'add'],
      ['acr', 'check-health'],
      ['login'],
      ['account', 'show'],
    ]) {
      const result = run(...args, '--help');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('Usage: breakwater');
    }
  });
});

describe('acr update (the product brief)', () => {
  it('turns trusted services off and on again', () => {
    const off = run('acr', 'update', '--name', 'myregistry', '--allow-trusted-services', 'false');
    expect(off.status).toBe(0);
    expect(off.json<{ networkRuleBypassOptions: string }>().networkRuleBypassOptions).toBe('None');
    const shownOff = run(
      'acr',
      'show',
      '--name',
      'myregistry',
      '--query',
      'networkRuleBypassOptions',
      '-o',
      'tsv',
    );
    expect(shownOff.stdout).toBe('None\n');

    const on = run('acr', 'update', '--name', 'myregistry', '--allow-trusted-services', 'true');
    expect(on.status).toBe(0);
    const shownOn = run(
      'acr',
      'show',
      '--name',
      'myregistry',
      '--query',
      'networkRuleBypassOptions',
      '-o',
      'tsv',
    );
    expect(shownOn.stdout).toBe('AzureServices\n');
  });

  it('uses the configured default registry', () => {
    expect(run('configure', '--defaults', 'acr=myregistry').status).toBe(0);
    const result = run('acr', 'show', '--query', 'name', '-o', 'tsv');
    expect(result.stdout).toBe('myregistry\n');
  });

  it('disabling the public endpoint also denies by default and warns', () => {
    const result = run('acr', 'update', '--public-network-enabled', 'false');
    expect(result.status).toBe(0);
    expect(result.stderr).toBe(
      'WARNING: Disabling the public endpoint overrides all firewall configurations.\n',
    );
    expect(result.json()).toMatchObject({
      publicNetworkAccess: 'Disabled',
      networkRuleSet: { defaultAction: 'Deny' },
    });
    const again = run(
      'acr',
      'update',
      '--public-network-enabled',
      'true',
      '--default-action',
      'Allow',
      '--only-show-errors',
    );
    expect(again.stderr).toBe('');
    expect(again.json()).toMatchObject({
      publicNetworkAccess: 'Enabled',
      networkRuleSet: { defaultAction: 'Allow' },
    });
  });

  it('suppresses the warning with --only-show-errors', () => {
    const result = run('acr', 'update', '--public-network-enabled', 'false', '--only-show-errors');
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    run('acr', 'update', '--public-network-enabled', 'true', '--default-action', 'Allow');
  });

  it('toggles the admin user and anonymous pull', () => {
    const result = run(
      'acr',
      'update',
      '--admin-enabled',
      'true',
      '--anonymous-pull-enabled',
      'true',
      '--query',
      '[adminUserEnabled, anonymousPullEnabled]',
      '-o',
      'tsv',
    );
    // az prints a list of scalars one per line.
    expect(result.stdout).toBe('True\nTrue\n');
  });
});

describe('acr network-rule and credential', () => {
  it('adds, lists and removes an IP rule', () => {
    const added = run(
      'acr',
      'network-rule',
      'add',
      '--name',
      'myregistry',
      '--ip-address',
      '10.1.2.3',
    );
    expect(added.status).toBe(0);
    expect(added.json()).toEqual({
      name: 'myregistry',
      networkRuleSet: {
        defaultAction: 'Allow',
        ipRules: [{ action: 'Allow', ipAddressOrRange: '10.1.2.3' }],
        virtualNetworkRules: [],
      },
      provisioningState: 'Succeeded',
    });
    const listed = run('acr', 'network-rule', 'list', '--name', 'myregistry', '-o', 'json');
    expect(JSON.stringify(listed.json())).toBe(
      '{"ipRules":[{"action":"Allow","ipAddressOrRange":"10.1.2.3"}],"virtualNetworkRules":[]}',
    );
    const removed = run(
      'acr',
      'network-rule',
      'remove',
      '--name',
      'myregistry',
      '--ip-address',
      '10.1.2.3',
    );
    expect(removed.json()).toMatchObject({ networkRuleSet: { ipRules: [] } });
  });

  it('shows and renews the admin credentials', () => {
    const shown = run('acr', 'credential', 'show', '--name', 'myregistry');
    expect(shown.status).toBe(0);
    const before = shown.json<{ username: string; passwords: { name: string; value: string }[] }>();
    expect(before.username).toBe('myregistry');
    expect(before.passwords.map((p) => p.name)).toEqual(['password', 'password2']);
    const renewed = run(
      'acr',
      'credential',
      'renew',
      '--name',
      'myregistry',
      '--password-name',
      'password2',
    );
    expect(renewed.status).toBe(0);
    const after = renewed.json<typeof before>();
    expect(after.passwords[0]!.value).toBe(before.passwords[0]!.value);
    expect(after.passwords[1]!.value).not.toBe(before.passwords[1]!.value);
  });

  it('creates a Basic registry, refuses network rules on it, and deletes it', () => {
    const created = run(
      'acr',
      'create',
      '--name',
      'basicreg',
      '--resource-group',
      'breakwater',
      '--sku',
      'Basic',
    );
    expect(created.status).toBe(0);
    expect(created.json()).toMatchObject({
      name: 'basicreg',
      resourceGroup: 'breakwater',
      sku: { name: 'Basic' },
      loginServer: 'basicreg.azurecr.localhost',
    });
    const rule = run('acr', 'network-rule', 'add', '--name', 'basicreg', '--ip-address', '1.2.3.4');
    expect(rule.status).toBe(1);
    expect(rule.stderr).toBe(
      'ERROR: Network rules are only supported for managed registries in Premium SKU.\n',
    );
    const deny = run('acr', 'update', '--name', 'basicreg', '--default-action', 'Deny');
    expect(deny.status).toBe(1);
    expect(deny.stderr).toBe(
      'ERROR: Network rules are only supported for managed registries in Premium SKU.\n',
    );
    const dashes = run('acr', 'create', '--name', 'bad-name', '-g', 'breakwater', '--sku', 'Basic');
    expect(dashes.stderr).toBe('ERROR: Registry name cannot contain dashes.\n');

    const unconfirmed = run('acr', 'delete', '--name', 'basicreg');
    expect(unconfirmed.status).toBe(1);
    expect(run('acr', 'delete', '--name', 'basicreg', '--yes').status).toBe(0);
    expect(run('acr', 'list', '--query', '[].name', '-o', 'tsv').stdout).toBe('myregistry\n');
  });
});

describe('acr login and check-health', () => {
  it('exposes a refresh token that the data endpoint accepts', async () => {
    const result = run('acr', 'login', '--name', 'myregistry', '--expose-token');
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(
      "WARNING: You can perform manual login using the provided access token below, for example: 'docker login loginServer -u 00000000-0000-0000-0000-000000000000 -p accessToken'",
    );
    const { accessToken, loginServer } = result.json<{
      accessToken: string;
      loginServer: string;
    }>();
    expect(loginServer).toBe('myregistry.azurecr.localhost');
    const basic = Buffer.from(`00000000-0000-0000-0000-000000000000:${accessToken}`).toString(
      'base64',
    );
    const catalog = await dataRequest(`${server.url}/v2/_catalog`, {
      headers: { authorization: `Basic ${basic}` },
    });
    expect(catalog.status).toBe(200);
  });

  it('writes the credential where skopeo and podman read it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'breakwater-auth-'));
    try {
      const authFile = join(dir, 'auth.json');
      const result = cli(['acr', 'login', '--name', 'myregistry'], {
        ...env,
        REGISTRY_AUTH_FILE: authFile,
      });
      expect(result.status).toBe(0);
      const auth = JSON.parse(readFileSync(authFile, 'utf8')) as {
        auths: Record<string, { auth: string }>;
      };
      const decoded = Buffer.from(auth.auths[server.host]!.auth, 'base64').toString();
      expect(decoded).toMatch(/^00000000-0000-0000-0000-000000000000:eyJ/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a healthy registry', () => {
    const result = run('acr', 'check-health', '--name', 'myregistry');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(
      [
        `Challenge endpoint ${server.url}/v2/ : OK`,
        "Fetch refresh token for registry 'myregistry.azurecr.localhost' : OK",
        "Fetch access token for registry 'myregistry.azurecr.localhost' : OK",
        '',
      ].join('\n'),
    );
  });

  it('explains a refusal with the address the registry saw', () => {
    expect(run('acr', 'update', '--name', 'myregistry', '--default-action', 'Deny').status).toBe(0);
    try {
      const refused = run('acr', 'check-health', '--name', 'myregistry');
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('CONNECTIVITY_FORBIDDEN_ERROR');
      expect(refused.stderr).toContain("client with IP '127.0.0.1' is not allowed access.");
      expect(refused.stderr).toContain('Your address as the registry sees it: 127.0.0.1');
      expect(refused.stderr).toContain(
        "Allow it with 'breakwater acr network-rule add --name myregistry --ip-address 127.0.0.1'.",
      );
      expect(run('acr', 'check-health', '--name', 'myregistry', '--ignore-errors').status).toBe(0);

      const login = run('acr', 'login', '--name', 'myregistry', '--expose-token');
      expect(login.status).toBe(1);
      expect(login.stderr).toMatch(
        /^ERROR: Access to registry 'myregistry.azurecr.localhost' was denied\. Response code: 403\./,
      );

      // The IP rule the advice names lets the CLI back in.
      run('acr', 'network-rule', 'add', '--name', 'myregistry', '--ip-address', '127.0.0.1');
      expect(run('acr', 'check-health', '--name', 'myregistry').status).toBe(0);
    } finally {
      run('acr', 'update', '--name', 'myregistry', '--default-action', 'Allow');
    }
  });

  it('reports an unreachable management endpoint as a sentence', () => {
    const profile = JSON.parse(readFileSync(join(configDir, 'profile.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const dir = makeConfigDir();
    try {
      const broken = { ...profile, managementUrl: 'https://127.0.0.1:1' };
      writeFileSync(join(dir, 'profile.json'), JSON.stringify(broken));
      const result = cli(['acr', 'list'], { ...env, BREAKWATER_CONFIG_DIR: dir });
      expect(result.status).toBe(1);
      expect(result.stderr).toBe(
        "ERROR: Could not connect to 127.0.0.1:1: the connection was refused. Is 'breakwater serve' running there?\n",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
