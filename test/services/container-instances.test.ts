/**
 * Container instances on the real server, against a registry whose public access is disabled: a
 * group pulls its image with its user-assigned identity through the trusted-services bypass,
 * unpacks it and runs it in the sandbox (states, events, logs as ACI shows them); once the
 * registry stops allowing trusted services, or without AcrPull, or with the admin user's
 * password (not a trusted service's credential), the PUT fails with ACI's InaccessibleImage and
 * leaves nothing behind; a credential naming an identity the group lacks is
 * InvalidImageRegistryIdentity.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxAvailable } from '../../src/runtime/index.js';
import type { ArmResponse } from '../support/arm-client.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';
import { loginServerOf, Platform, pushBusyboxImage } from './support.js';

const ACI_API = 'api-version=2023-05-01';
const REGISTRY = 'acisource';
const IMAGE = `${loginServerOf(REGISTRY)}/hello:v1`;

const bubblewrap = await sandboxAvailable();
if (!bubblewrap) {
  if (process.env.CI === 'true') throw new Error('bubblewrap is required in CI (.ci/run)');
  console.warn('SKIPPING container instances: bubblewrap (/usr/bin/bwrap) is not installed');
}

interface GroupBody {
  properties: {
    provisioningState: string;
    instanceView: { state: string };
    imageRegistryCredentials: Record<string, unknown>[];
    containers: {
      name: string;
      properties: {
        instanceView?: {
          restartCount: number;
          currentState: { state: string; exitCode?: number; detailStatus: string };
          events: { name: string; message: string; type: string }[];
        };
      };
    }[];
  };
}

describe.skipIf(!bubblewrap)('container instances', () => {
  let server: RunningServer;
  let platform: Platform;
  let group: string;
  let puller: string;
  let stranger: string;

  async function identity(name: string): Promise<{ id: string; principalId: string }> {
    const id = `${platform.group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
    const created = await platform.arm.arm('PUT', `${id}?api-version=2023-01-31`, {
      location: 'local',
    });
    expect(created.status, created.text).toBe(201);
    return {
      id,
      principalId: (created.body as { properties: { principalId: string } }).properties.principalId,
    };
  }

  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    platform = new Platform(server);
    group = `${platform.group}/providers/Microsoft.ContainerInstance/containerGroups`;
    const registry = await platform.createRegistry(REGISTRY);
    await pushBusyboxImage(platform.data(REGISTRY), 'hello', 'v1', {
      Cmd: ['/bin/sh', '-c', 'echo "hello from $GREETING"; echo "to stderr" >&2'],
      Env: ['PATH=/bin', 'GREETING=the image'],
    });
    const withRole = await identity('aci-puller');
    await platform.assign(registry, 'AcrPull', withRole.principalId);
    puller = withRole.id;
    stranger = (await identity('aci-stranger')).id;
    await platform.setNetwork(REGISTRY, { publicAccess: false, trustedServices: true });
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  const deploy = (name: string, identityId: string, extra: Record<string, unknown> = {}) =>
    platform.arm.arm('PUT', `${group}/${name}?${ACI_API}`, {
      location: 'local',
      identity: { type: 'UserAssigned', userAssignedIdentities: { [identityId]: {} } },
      properties: {
        osType: 'Linux',
        restartPolicy: 'Never',
        containers: [
          {
            name: 'app',
            properties: {
              image: IMAGE,
              environmentVariables: [{ name: 'GREETING', value: 'aci' }],
              resources: { requests: { cpu: 1, memoryInGB: 1 } },
            },
          },
        ],
        imageRegistryCredentials: [{ server: loginServerOf(REGISTRY), identity: identityId }],
        ...extra,
      },
    });

  async function settled(name: string): Promise<GroupBody> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const got = await platform.arm.arm('GET', `${group}/${name}?${ACI_API}`);
      expect(got.status, got.text).toBe(200);
      const body = got.body as GroupBody;
      if (['Succeeded', 'Failed'].includes(body.properties.instanceView.state)) return body;
      if (Date.now() > deadline) throw new Error(`group ${name} did not finish: ${got.text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  function expectInaccessible(response: ArmResponse, name: string): void {
    expect(response.status, response.text).toBe(400);
    expect(response.body).toEqual({
      error: {
        code: 'InaccessibleImage',
        message: `The image '${IMAGE}' in container group '${name}' is not accessible. Please check the image and registry credential.`,
      },
    });
  }

  it('pulls with the group identity through the bypass, runs the container, and shows its logs', async () => {
    const created = await deploy('cg-ok', puller);
    expect(created.status, created.text).toBe(201);
    const body = await settled('cg-ok');
    expect(body.properties.provisioningState).toBe('Succeeded');
    expect(body.properties.instanceView.state).toBe('Succeeded');
    const view = body.properties.containers[0]!.properties.instanceView!;
    expect(view.currentState).toMatchObject({
      state: 'Terminated',
      exitCode: 0,
      detailStatus: 'Completed',
    });
    expect(view.restartCount).toBe(0);
    expect(view.events.map((e) => e.name)).toEqual(['Pulling', 'Pulled', 'Started']);
    expect(view.events[1]!.message).toBe(`Successfully pulled image "${IMAGE}"`);
    const logs = await platform.arm.arm('GET', `${group}/cg-ok/containers/app/logs?${ACI_API}`);
    expect(logs.status).toBe(200);
    expect((logs.body as { content: string }).content).toContain('hello from aci\n');
    expect((logs.body as { content: string }).content).toContain('to stderr\n');
    const tail = await platform.arm.arm(
      'GET',
      `${group}/cg-ok/containers/app/logs?${ACI_API}&tail=1`,
    );
    expect((tail.body as { content: string }).content.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('fails with InaccessibleImage once the registry no longer allows trusted services, leaving nothing', async () => {
    await platform.setNetwork(REGISTRY, { trustedServices: false });
    try {
      expectInaccessible(await deploy('cg-refused', puller), 'cg-refused');
      expect((await platform.arm.arm('GET', `${group}/cg-refused?${ACI_API}`)).status).toBe(404);
    } finally {
      await platform.setNetwork(REGISTRY, { trustedServices: true });
    }
  });

  it('fails with InaccessibleImage when the identity holds no role, or with a password', async () => {
    expectInaccessible(await deploy('cg-norole', stranger), 'cg-norole');
    const admin = await platform.arm.arm(
      'PATCH',
      `${platform.registryId(REGISTRY)}?api-version=2025-11-01`,
      {
        properties: { adminUserEnabled: true },
      },
    );
    expect(admin.status).toBe(200);
    const creds = await platform.arm.arm(
      'POST',
      `${platform.registryId(REGISTRY)}/listCredentials?api-version=2025-11-01`,
    );
    const { username, passwords } = creds.body as {
      username: string;
      passwords: { value: string }[];
    };
    const withPassword = await deploy('cg-password', puller, {
      imageRegistryCredentials: [
        { server: loginServerOf(REGISTRY), username, password: passwords[0]!.value },
      ],
    });
    expectInaccessible(withPassword, 'cg-password');
  });

  it('refuses a registry credential naming an identity the group does not have', async () => {
    const response = await deploy('cg-wrongid', puller, {
      imageRegistryCredentials: [{ server: loginServerOf(REGISTRY), identity: stranger }],
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      error: {
        code: 'InvalidImageRegistryIdentity',
        message:
          "The identity in the 'imageRegistryCredentials' of container group 'cg-wrongid' not found in container group identity list.",
      },
    });
  });
});
