/**
 * The real az CLI (Debian azure-cli 2.45) against a live `breakwater serve`, with the product
 * brief's commands verbatim: the cloud registered from `breakwater cloud register-command`,
 * `az login --service-principal`, `az acr show|update|network-rule add`, `az role assignment
 * create` (with the Debian client patch from ../shared/tools/az-debian-fix, see
 * ../shared/guide/az-cli-wire.md), `az acr login --expose-token` and `az acr import` (from a local
 * CNCF Distribution; az polls the import's long-running operation).
 *
 * Every az call runs in a private AZURE_CONFIG_DIR with REQUESTS_CA_BUNDLE=<server CA>, no
 * proxy, and a timeout. The login server `myregistry.azurecr.localhost` does not resolve here,
 * so only `acr login` goes through a CONNECT tunnel (connect-tunnel.ts) to the data endpoint,
 * served over TLS (`--data-tls`). Off CI a missing az skips loudly; with CI=true it fails.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandAvailable, describeRun, run, type RunResult } from '../support/clients.js';
import {
  REPO_ROOT,
  removeDataDir,
  requireClient,
  startServer,
  type RunningServer,
} from '../support/server.js';
import { cli, makeConfigDir } from '../cli/cli.js';
import { startConnectTunnel, type ConnectTunnel } from './connect-tunnel.js';
import {
  dataRequest,
  digestOf,
  DISTRIBUTION,
  pushIndexImage,
  startDistribution,
  type DataAnswer,
} from '../services/support.js';

/** The Debian role-assignment patch; CI has the same layout (`<repo>/../shared/...`). */
const AZ_FIX = resolve(REPO_ROOT, '..', 'shared', 'tools', 'az-debian-fix');
const AZ_TIMEOUT_MS = 90_000;
const PROXY_VARS = ['HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'NO_PROXY'];

const enabled = requireClient('az', await commandAvailable('az'));

/** Like requireClient for the client patch: skip loudly off CI, fail with CI=true. */
function requireAzFix(): boolean {
  if (existsSync(join(AZ_FIX, 'sitecustomize.py'))) return true;
  const message = `az role assignment needs the Debian client patch at ${AZ_FIX} (see ../shared/guide/az-cli-wire.md)`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n*** SKIPPING: ${message} ***\n`);
  return false;
}

let server: RunningServer;
let azConfigDir: string;
let bwConfigDir: string;
let registryId: string;
let principalId: string;

function azEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of PROXY_VARS) {
    delete env[name];
    delete env[name.toLowerCase()];
  }
  delete env.PYTHONPATH;
  return {
    ...env,
    AZURE_CONFIG_DIR: azConfigDir,
    REQUESTS_CA_BUNDLE: server.caPath,
    AZURE_CORE_COLLECT_TELEMETRY: 'false',
    AZURE_CORE_SURVEY_MESSAGE: 'false',
    AZURE_CORE_NO_COLOR: 'true',
    ...extra,
  };
}

async function az(args: string[], extra: Record<string, string> = {}): Promise<RunResult> {
  return run('az', args, { env: azEnv(extra), timeoutMs: AZ_TIMEOUT_MS });
}

/** Asserts exit 0 and parses stdout as JSON, showing what az printed (and the server log) if not. */
function json<T>(result: RunResult): T {
  if (result.code !== 0) {
    throw new Error(`az failed\n${describeRun(result)}\n--- server log tail ---\n${tail()}`);
  }
  return JSON.parse(result.stdout) as T;
}

function tail(): string {
  return server.output().split('\n').slice(-20).join('\n');
}

function expectOk(result: RunResult): RunResult {
  if (result.code !== 0) {
    throw new Error(`az failed\n${describeRun(result)}\n--- server log tail ---\n${tail()}`);
  }
  return result;
}

/** POST a form to the data endpoint over TLS, trusting the server's CA. */
function postForm(
  url: string,
  form: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolvePost, reject) => {
    const body = new URLSearchParams(form).toString();
    const req = request(
      url,
      {
        method: 'POST',
        ca: readFileSync(server.caPath),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolvePost({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  if (!enabled) return;
  server = await startServer({ extraArgs: ['--data-tls'], scheme: 'https' });
  azConfigDir = mkdtempSync(join(tmpdir(), 'breakwater-az-'));
  bwConfigDir = makeConfigDir();
});

afterAll(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
  for (const dir of [azConfigDir, bwConfigDir]) {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

describe.skipIf(!enabled)('the real az CLI against breakwater', () => {
  it('registers the cloud from `breakwater cloud register-command` and selects it', async () => {
    const bwEnv = { BREAKWATER_CONFIG_DIR: bwConfigDir, BREAKWATER_DATA: server.dataDir };
    expect(cli(['login'], bwEnv).status).toBe(0);
    const script = cli(['cloud', 'register-command'], bwEnv);
    expect(script.status).toBe(0);
    expect(script.stdout.split('\n')[0]).toBe(`export REQUESTS_CA_BUNDLE=${server.caPath}`);
    // What a user does: eval the printed lines in a shell (az cloud register, update, set).
    const result = expectOk(
      await run('bash', ['-euo', 'pipefail', '-c', script.stdout], {
        env: azEnv(),
        timeoutMs: 3 * AZ_TIMEOUT_MS,
      }),
    );
    expect(result.stderr).toContain("Switched active cloud to 'Breakwater'.");
    const cloud = json<{
      name: string;
      isActive: boolean;
      endpoints: Record<string, string>;
      suffixes: Record<string, string>;
    }>(await az(['cloud', 'show', '-o', 'json']));
    const mgmt = server.managementUrl.replace(/\/$/, '');
    expect(cloud).toMatchObject({
      name: 'Breakwater',
      isActive: true,
      endpoints: {
        resourceManager: `${mgmt}/`,
        activeDirectory: `${mgmt}/adfs`,
        activeDirectoryResourceId: 'https://management.local/',
        microsoftGraphResourceId: `${mgmt}/`,
      },
      suffixes: { acrLoginServerEndpoint: '.azurecr.localhost' },
    });
  });

  it('az login with a bad secret shows the identity service error', async () => {
    const result = await az([
      'login',
      '--service-principal',
      '-u',
      server.owner.clientId,
      '-p',
      'not-the-secret',
      '--tenant',
      server.owner.tenantId,
    ]);
    expect(result.code, describeRun(result)).toBe(1);
    expect(result.stderr).toContain('AADSTS7000215: Invalid client secret provided.');
  });

  it('az login --service-principal (ADFS-style authority, no proxy)', async () => {
    const { clientId, clientSecret, tenantId, subscriptionId } = server.owner;
    const accounts = json<{ id: string; tenantId: string; isDefault: boolean; user: unknown }[]>(
      await az([
        'login',
        '--service-principal',
        '-u',
        clientId,
        '-p',
        clientSecret,
        '--tenant',
        tenantId,
      ]),
    );
    expect(accounts).toEqual([
      expect.objectContaining({
        id: subscriptionId,
        tenantId,
        isDefault: true,
        user: { name: clientId, type: 'servicePrincipal' },
      }),
    ]);
  });

  it('az acr show --name myregistry', async () => {
    const registry = json<Record<string, unknown>>(
      await az(['acr', 'show', '--name', 'myregistry']),
    );
    expect(registry).toMatchObject({
      name: 'myregistry',
      type: 'Microsoft.ContainerRegistry/registries',
      loginServer: 'myregistry.azurecr.localhost',
      sku: { name: 'Premium', tier: 'Premium' },
      networkRuleBypassOptions: 'AzureServices',
      networkRuleSet: { defaultAction: 'Allow', ipRules: [] },
      publicNetworkAccess: 'Enabled',
      provisioningState: 'Succeeded',
      resourceGroup: 'breakwater',
    });
    registryId = registry.id as string;
    expect(registryId).toBe(
      `/subscriptions/${server.owner.subscriptionId}/resourceGroups/breakwater/providers/Microsoft.ContainerRegistry/registries/myregistry`,
    );
  });

  it('az acr update --allow-trusted-services false, then true', async () => {
    const bypass = async () => {
      const result = expectOk(
        await az([
          'acr',
          'show',
          '--name',
          'myregistry',
          '--query',
          'networkRuleBypassOptions',
          '-o',
          'tsv',
        ]),
      );
      return result.stdout;
    };
    const off = json<{ networkRuleBypassOptions: string }>(
      await az(['acr', 'update', '--name', 'myregistry', '--allow-trusted-services', 'false']),
    );
    expect(off.networkRuleBypassOptions).toBe('None');
    expect(await bypass()).toBe('None\n');
    const on = json<{ networkRuleBypassOptions: string }>(
      await az(['acr', 'update', '--name', 'myregistry', '--allow-trusted-services', 'true']),
    );
    expect(on.networkRuleBypassOptions).toBe('AzureServices');
    expect(await bypass()).toBe('AzureServices\n');
  });

  it('az acr network-rule add --ip-address 127.0.0.9', async () => {
    const added = json<{ networkRuleSet: { defaultAction: string; ipRules: unknown[] } }>(
      await az(['acr', 'network-rule', 'add', '--name', 'myregistry', '--ip-address', '127.0.0.9']),
    );
    // az prints the SDK's attribute name; the wire key is `value`.
    expect(added.networkRuleSet).toMatchObject({
      defaultAction: 'Allow',
      ipRules: [{ action: 'Allow', ipAddressOrRange: '127.0.0.9' }],
    });
    const listed = json<{ ipRules: unknown[] }>(
      await az(['acr', 'network-rule', 'list', '--name', 'myregistry']),
    );
    expect(listed.ipRules).toEqual([{ action: 'Allow', ipAddressOrRange: '127.0.0.9' }]);
    const shown = json<unknown[]>(
      await az(['acr', 'show', '--name', 'myregistry', '--query', 'networkRuleSet.ipRules']),
    );
    expect(shown).toEqual([{ action: 'Allow', ipAddressOrRange: '127.0.0.9' }]);
  });

  it('az identity create gives a managed identity to grant', async () => {
    const identity = json<{ principalId: string; clientId: string; name: string }>(
      await az(['identity', 'create', '--name', 'builder', '--resource-group', 'breakwater']),
    );
    expect(identity.name).toBe('builder');
    expect(identity.principalId).toMatch(/^[0-9a-f-]{36}$/);
    principalId = identity.principalId;
  });

  it.skipIf(!requireAzFix())(
    'az role assignment create --role AcrPull --scope <registry> (patched Debian client), idempotent',
    async () => {
      const args = [
        'role',
        'assignment',
        'create',
        '--assignee',
        principalId,
        '--role',
        'AcrPull',
        '--scope',
        registryId,
      ];
      const patched = { PYTHONPATH: AZ_FIX };
      const created = json<Record<string, unknown>>(await az(args, patched));
      expect(created).toMatchObject({
        principalId,
        principalType: 'ServicePrincipal',
        scope: registryId,
        roleDefinitionId: `/subscriptions/${server.owner.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d`,
        type: 'Microsoft.Authorization/roleAssignments',
      });
      // Again: the server answers 409 RoleAssignmentExists and az returns the existing one.
      const again = json<Record<string, unknown>>(await az(args, patched));
      expect(again.name).toBe(created.name);
      const listed = json<{ principalId: string; roleDefinitionName: string }[]>(
        await az(['role', 'assignment', 'list', '--scope', registryId], patched),
      );
      expect(listed).toEqual([
        expect.objectContaining({ principalId, roleDefinitionName: 'AcrPull' }),
      ]);
    },
  );

  it('az acr login --name myregistry --expose-token, and the token works on the data plane', async () => {
    let tunnel: ConnectTunnel | undefined;
    try {
      tunnel = await startConnectTunnel('.azurecr.localhost', {
        host: '127.0.0.1',
        port: server.port,
      });
      const result = await az(['acr', 'login', '--name', 'myregistry', '--expose-token'], {
        HTTPS_PROXY: tunnel.url,
        NO_PROXY: '127.0.0.1',
      });
      const login = json<{ accessToken: string; loginServer: string }>(result);
      expect(login.loginServer).toBe('myregistry.azurecr.localhost');
      expect(login.accessToken.split('.')).toHaveLength(3);
      expect(result.stderr).toContain('00000000-0000-0000-0000-000000000000');
      // Only the login server went through the tunnel (probe, challenge, /oauth2/exchange).
      expect(new Set(tunnel.targets)).toEqual(new Set(['myregistry.azurecr.localhost:443']));
      // What docker would do with it: exchange for an access token, then call the registry.
      const token = await postForm(`${server.url}/oauth2/token`, {
        grant_type: 'refresh_token',
        service: 'myregistry.azurecr.localhost',
        scope: 'registry:catalog:*',
        refresh_token: login.accessToken,
      });
      expect(token.status, token.body).toBe(200);
      expect((JSON.parse(token.body) as { access_token?: string }).access_token).toBeTruthy();
    } finally {
      await tunnel?.close();
    }
  });

  it('az acr config soft-delete, then az acr manifest list-deleted, list-deleted-tags and restore', async () => {
    const policy = json<{ retentionDays: number; status: string }>(
      expectOk(
        await az([
          'acr',
          'config',
          'soft-delete',
          'update',
          '-r',
          'myregistry',
          '--days',
          '3',
          '--status',
          'enabled',
          // Fewer days than the default 7: az asks to confirm the earlier purge.
          '--yes',
        ]),
      ),
    );
    expect(policy).toMatchObject({ retentionDays: 3, status: 'enabled' });
    const pushed = await pushIndexImage(sendTls, 'soft/app', 'v1', 'soft-delete');
    let tunnel: ConnectTunnel | undefined;
    try {
      tunnel = await startConnectTunnel('.azurecr.localhost', {
        host: '127.0.0.1',
        port: server.port,
      });
      const viaTunnel = { HTTPS_PROXY: tunnel.url, NO_PROXY: '127.0.0.1' };
      const acr = async (...args: string[]) => expectOk(await az(['acr', ...args], viaTunnel));
      await acr('repository', 'delete', '-n', 'myregistry', '--image', 'soft/app:v1', '--yes');
      expect((await getTls('/v2/soft/app/manifests/v1')).status).toBe(404);

      const manifests = json<Array<{ digest: string; deletedAt: string; expiresAfter: string }>>(
        await acr('manifest', 'list-deleted', '-r', 'myregistry', '-n', 'soft/app'),
      );
      expect(manifests).toEqual([
        expect.objectContaining({
          digest: pushed.digest,
          deletedAt: expect.any(String),
          expiresAfter: expect.any(String),
        }),
      ]);
      const tags = json<Array<{ tag: string; digest: string }>>(
        await acr('manifest', 'list-deleted-tags', '-r', 'myregistry', '-n', 'soft/app:v1'),
      );
      expect(tags).toEqual([expect.objectContaining({ tag: 'v1', digest: pushed.digest })]);
      // The repository itself still exists (its other manifests stayed).
      expect(json(await acr('repository', 'list-deleted', '-n', 'myregistry'))).toEqual([]);

      await acr('manifest', 'restore', '-r', 'myregistry', '-n', 'soft/app:v1');
      const restored = await getTls('/v2/soft/app/manifests/v1');
      expect(restored.status, restored.body).toBe(200);
      expect(digestOf(restored.body)).toBe(pushed.digest);
      expect(
        json(await acr('manifest', 'list-deleted', '-r', 'myregistry', '-n', 'soft/app')),
      ).toEqual([]);
    } finally {
      await tunnel?.close();
      await az([
        'acr',
        'config',
        'soft-delete',
        'update',
        '-r',
        'myregistry',
        '--status',
        'disabled',
      ]);
    }
  });

  // az polls the 202's Azure-AsyncOperation URL until the copy ends (Distribution: apt
  // docker-registry, as test/services/import.test.ts uses it).
  it.skipIf(!existsSync(DISTRIBUTION))('az acr import from a local CNCF Distribution', async () => {
    const distribution = await startDistribution();
    try {
      const pushed = await pushIndexImage(
        (method, path, body, headers) =>
          dataRequest(
            { host: '127.0.0.1', port: distribution.port },
            distribution.host,
            method,
            path,
            undefined,
            body,
            headers,
          ),
        'library/hello',
        'v1',
        'az',
      );
      expectOk(
        await az([
          'acr',
          'import',
          '--name',
          'myregistry',
          '--source',
          `${distribution.host}/library/hello:v1`,
          '--image',
          'imported/hello:v1',
        ]),
      );
      const manifest = await getTls('/v2/imported/hello/manifests/v1');
      expect(manifest.status, manifest.body).toBe(200);
      expect(digestOf(manifest.body)).toBe(pushed.digest);
    } finally {
      distribution.stop();
    }
  });
});

/** One request on the TLS data endpoint as the bootstrap owner (pushIndexImage's sender). */
function sendTls(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<DataAnswer> {
  return new Promise((resolveSend, reject) => {
    const req = request(
      `${server.url}${path}`,
      {
        method,
        ca: readFileSync(server.caPath),
        headers: {
          authorization: server.authHeader,
          ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolveSend({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** GET on the TLS data endpoint as the bootstrap owner, trusting the server's CA. */
function getTls(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = request(
      `${server.url}${path}`,
      {
        ca: readFileSync(server.caPath),
        headers: {
          authorization: server.authHeader,
          accept: 'application/vnd.oci.image.index.v1+json',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
