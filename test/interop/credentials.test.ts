/**
 * Interop: real skopeo with every kind of registry credential against the real server: a service
 * principal through the token flow, the admin user, a repository token; a principal holding only
 * AcrPull pulls but its push is refused, and removing its role assignment refuses it at once.
 * Also: the data endpoint over TLS, trusted through the server's own CA (`--cert-dir`).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ArmClient } from '../support/arm-client.js';
import {
  ClientSandbox,
  commandAvailable,
  expectSuccess,
  type RunResult,
} from '../support/clients.js';
import { BUSYBOX_PATH, buildImageLayout, sampleImageSpec } from '../support/oci-layout.js';
import {
  removeDataDir,
  requireClient,
  startServer,
  type RunningServer,
} from '../support/server.js';

const enabled =
  requireClient('skopeo', await commandAvailable('skopeo')) &&
  requireClient('busybox-static', existsSync(BUSYBOX_PATH));

const API = 'api-version=2023-07-01';
const AUTHZ = 'api-version=2020-04-01-preview';
const ACR_PULL = '7f951dda-4ed3-4680-a7ca-43fe172d538d';
const SLOW = { timeout: 240_000 };

describe.skipIf(!enabled)('skopeo with each credential kind', () => {
  let server: RunningServer;
  let arm: ArmClient;
  let clients: ClientSandbox;
  let layout: string;

  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    arm = new ArmClient(server);
    clients = await ClientSandbox.create('breakwater-credentials-');
    layout = clients.path('layout');
    await buildImageLayout(layout, await sampleImageSpec('credentials'), 'v1');
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
    await clients?.cleanup();
  });

  const push = (creds: string, repository: string): Promise<RunResult> =>
    clients.skopeo([
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      creds,
      `oci:${layout}:v1`,
      `docker://${server.host}/${repository}:v1`,
    ]);
  const pull = (creds: string, repository: string): Promise<RunResult> =>
    clients.skopeo([
      'inspect',
      '--tls-verify=false',
      '--creds',
      creds,
      `docker://${server.host}/${repository}:v1`,
    ]);

  test('a service principal pushes and pulls through the token flow', SLOW, async () => {
    const creds = `${server.owner.clientId}:${server.owner.clientSecret}`;
    expectSuccess(await push(creds, 'creds/sp'), () => server.output());
    const inspected = JSON.parse(expectSuccess(await pull(creds, 'creds/sp')).stdout) as {
      Name: string;
    };
    expect(inspected.Name).toBe(`${server.host}/creds/sp`);
    // Wrong secret: skopeo reports the registry's 401.
    const refused = await pull(`${server.owner.clientId}:wrong-secret`, 'creds/sp');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/unauthorized|authentication required/i);
  });

  test('the admin user pushes and pulls while enabled', SLOW, async () => {
    expect(
      (
        await arm.arm('PATCH', `${arm.registryId()}?${API}`, {
          properties: { adminUserEnabled: true },
        })
      ).status,
    ).toBe(200);
    const listed = await arm.arm('POST', `${arm.registryId()}/listCredentials?${API}`);
    const credentials = listed.body as { username: string; passwords: { value: string }[] };
    const creds = `${credentials.username}:${credentials.passwords[0]!.value}`;
    expectSuccess(await push(creds, 'creds/admin'), () => server.output());
    expectSuccess(await pull(creds, 'creds/admin'));
    await arm.arm('PATCH', `${arm.registryId()}?${API}`, {
      properties: { adminUserEnabled: false },
    });
    expect((await pull(creds, 'creds/admin')).code).not.toBe(0);
  });

  test('a repository token reaches exactly its scope map', SLOW, async () => {
    const registry = arm.registryId();
    await arm.arm('PUT', `${registry}/scopeMaps/ciwriter?${API}`, {
      properties: {
        actions: [
          'repositories/creds/token/content/read',
          'repositories/creds/token/content/write',
        ],
      },
    });
    await arm.arm('PUT', `${registry}/tokens/citoken?${API}`, {
      properties: { scopeMapId: `${registry}/scopeMaps/ciwriter` },
    });
    const generated = await arm.arm('POST', `${registry}/generateCredentials?${API}`, {
      tokenId: `${registry}/tokens/citoken`,
    });
    const password = (generated.body as { passwords: { value: string }[] }).passwords[0]!.value;
    const creds = `citoken:${password}`;
    expectSuccess(await push(creds, 'creds/token'), () => server.output());
    expectSuccess(await pull(creds, 'creds/token'));
    const outside = await push(creds, 'creds/elsewhere');
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toMatch(/denied|unauthorized/i);
  });

  test(
    'an AcrPull principal pulls, cannot push, and loses access when the assignment goes',
    SLOW,
    async () => {
      const created = await arm.arm('POST', '/v1.0/servicePrincipals', { displayName: 'puller' });
      expect(created.status).toBe(201);
      const principal = created.body as { id: string; appId: string };
      const password = await arm.arm(
        'POST',
        `/v1.0/servicePrincipals/${principal.id}/addPassword`,
        { passwordCredential: { displayName: 'ci' } },
      );
      const creds = `${principal.appId}:${(password.body as { secretText: string }).secretText}`;
      const assignment = `${arm.registryId()}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?${AUTHZ}`;
      const assigned = await arm.arm('PUT', assignment, {
        properties: {
          roleDefinitionId: `/subscriptions/${server.owner.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL}`,
          principalId: principal.id,
          principalType: 'ServicePrincipal',
        },
      });
      expect(assigned.status).toBe(201);

      expectSuccess(await pull(creds, 'creds/sp'));
      const pushed = await push(creds, 'creds/pulleronly');
      expect(pushed.code).not.toBe(0);
      expect(pushed.stderr).toMatch(/denied|requested access to the resource is denied/i);

      expect((await arm.arm('DELETE', assignment)).status).toBe(200);
      const after = await pull(creds, 'creds/sp');
      expect(after.code).not.toBe(0);
      expect(after.stderr).toMatch(/denied|unauthorized/i);
    },
  );
});

describe.skipIf(!enabled)('skopeo over the TLS data endpoint', () => {
  let server: RunningServer;
  let clients: ClientSandbox;

  beforeAll(async () => {
    server = await startServer({
      extraArgs: ['--log-level', 'warn', '--data-tls'],
      scheme: 'https',
    });
    clients = await ClientSandbox.create('breakwater-tls-');
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
    await clients?.cleanup();
  });

  test('verifies the certificate against the platform CA and pushes', SLOW, async () => {
    const layout = clients.path('layout');
    await buildImageLayout(layout, await sampleImageSpec('tls'), 'v1');
    // containers/image reads every *.key in a cert dir as a client key: give it ca.crt alone.
    const certDir = clients.path('certs');
    await mkdir(certDir, { recursive: true });
    await copyFile(server.caPath, `${certDir}/ca.crt`);
    const creds = `${server.owner.clientId}:${server.owner.clientSecret}`;
    const target = `docker://${server.host}/tls/app:v1`;
    expectSuccess(
      await clients.skopeo([
        'copy',
        '--dest-cert-dir',
        certDir,
        '--dest-creds',
        creds,
        `oci:${layout}:v1`,
        target,
      ]),
      () => server.output(),
    );
    expectSuccess(
      await clients.skopeo(['inspect', '--cert-dir', certDir, '--creds', creds, target]),
    );
    // Without the CA the client refuses the certificate.
    const untrusted = await clients.skopeo(['inspect', '--creds', creds, target]);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/certificate/i);
  });
});
