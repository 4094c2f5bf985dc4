/**
 * (Node's global agent keeps connections alive, so a request to a closed endpoint may fail on a
 * reused socket as a hang-up rather than a refused connection: both mean "not served".)
 *
 * Private endpoints on the real server: a virtual network on a loopback range (every 127.x.y.z
 * is local on Linux), a private endpoint that binds its own listener on an address inside it,
 * clients choosing their source address (`localAddress`), approval states, and the public
 * endpoint refusing the same client while public access is disabled.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArmClient } from '../support/arm-client.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';
import { pushSmallImage } from '../support/small-image.js';

const NET_API = 'api-version=2023-05-01';
const ACR_API = 'api-version=2023-07-01';
const INSIDE = '127.77.1.10';
const OUTSIDE = '127.0.0.1';

interface Answer {
  status: number;
  body: string;
}

function get(
  host: string,
  port: number,
  path: string,
  source: string,
  authorization: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        path,
        localAddress: source,
        headers: { authorization, host: `${host}:${port}` },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('private endpoints', () => {
  let server: RunningServer;
  let arm: ArmClient;
  let group: string;

  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    arm = new ArmClient(server);
    group = `/subscriptions/${server.owner.subscriptionId}/resourceGroups/breakwater/providers`;
    const vnet = await arm.arm(
      'PUT',
      `${group}/Microsoft.Network/virtualNetworks/vnet1?${NET_API}`,
      {
        location: 'local',
        properties: {
          addressSpace: { addressPrefixes: ['127.77.0.0/16'] },
          subnets: [{ name: 'endpoints', properties: { addressPrefix: '127.77.1.0/24' } }],
        },
      },
    );
    expect(vnet.status).toBe(201);
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  async function createEndpoint(
    name: string,
    manual = false,
    registryId = arm.registryId(),
  ): Promise<{ ip: string; connection: string }> {
    const links = [
      {
        name: `${name}-link`,
        properties: { privateLinkServiceId: registryId, groupIds: ['registry'] },
      },
    ];
    const created = await arm.arm(
      'PUT',
      `${group}/Microsoft.Network/privateEndpoints/${name}?${NET_API}`,
      {
        location: 'local',
        properties: {
          subnet: { id: `${group}/Microsoft.Network/virtualNetworks/vnet1/subnets/endpoints` },
          [manual ? 'manualPrivateLinkServiceConnections' : 'privateLinkServiceConnections']: links,
        },
      },
    );
    expect(created.status).toBe(201);
    const properties = (
      created.body as { properties: { privateIPAddress: string; connectionId: string } }
    ).properties;
    return { ip: properties.privateIPAddress, connection: properties.connectionId };
  }

  it('serves a client inside the virtual network on the endpoint address, and no one outside', async () => {
    const endpoint = await createEndpoint('pe1');
    expect(endpoint.ip).toBe('127.77.1.4');
    const connections = await arm.arm(
      'GET',
      `${arm.registryId()}/privateEndpointConnections?${ACR_API}`,
    );
    const list = (
      connections.body as {
        value: {
          name: string;
          properties: {
            privateLinkServiceConnectionState: { status: string; description: string };
          };
        }[];
      }
    ).value;
    expect(
      list.find((c) => c.name === endpoint.connection)?.properties
        .privateLinkServiceConnectionState,
    ).toMatchObject({ status: 'Approved', description: 'Auto-Approved' });

    const inside = await get(endpoint.ip, server.port, '/v2/', INSIDE, server.authHeader);
    expect(inside.status).toBe(200);
    // A real pull: the manifest and its config blob pushed on the public endpoint, read here.
    const pushed = await pushSmallImage(server, 'pe/app', 'v1');
    const manifest = await get(
      endpoint.ip,
      server.port,
      '/v2/pe/app/manifests/v1',
      INSIDE,
      server.authHeader,
    );
    expect(manifest.status).toBe(200);
    expect(manifest.body).toBe(pushed.manifest);
    const config = await get(
      endpoint.ip,
      server.port,
      `/v2/pe/app/blobs/${pushed.config}`,
      INSIDE,
      server.authHeader,
    );
    expect(config.status).toBe(200);
    expect(config.body).toBe(pushed.configBody);
    const outside = await get(endpoint.ip, server.port, '/v2/', OUTSIDE, server.authHeader);
    expect(outside.status).toBe(403);
    expect(outside.body).toContain('outside the virtual network');
  });

  it('ignores IP rules and public access on the private door, and the public endpoint refuses the same client', async () => {
    const disabled = await arm.arm('PATCH', `${arm.registryId()}?${ACR_API}`, {
      properties: { publicNetworkAccess: 'Disabled' },
    });
    expect(disabled.status).toBe(200);
    try {
      expect((await get('127.77.1.4', server.port, '/v2/', INSIDE, server.authHeader)).status).toBe(
        200,
      );
      const publicDoor = await get('127.0.0.1', server.port, '/v2/', INSIDE, server.authHeader);
      expect(publicDoor.status).toBe(403);
      expect(publicDoor.body).toContain('public network access to this registry is disabled');
    } finally {
      await arm.arm('PATCH', `${arm.registryId()}?${ACR_API}`, {
        properties: { publicNetworkAccess: 'Enabled' },
      });
    }
  });

  it('keeps a manual connection Pending until approved, and refuses once rejected', async () => {
    const endpoint = await createEndpoint('pe2', true);
    expect(endpoint.ip).toBe('127.77.1.5');
    const pending = await get(endpoint.ip, server.port, '/v2/', INSIDE, server.authHeader);
    expect(pending.status).toBe(403);
    expect(pending.body).toContain('is Pending, not Approved');

    const url = `${arm.registryId()}/privateEndpointConnections/${endpoint.connection}?${ACR_API}`;
    const approve = await arm.arm('PUT', url, {
      properties: { privateLinkServiceConnectionState: { status: 'Approved', description: 'ok' } },
    });
    expect(approve.status).toBe(200);
    expect((await get(endpoint.ip, server.port, '/v2/', INSIDE, server.authHeader)).status).toBe(
      200,
    );

    await arm.arm('PUT', url, {
      properties: { privateLinkServiceConnectionState: { status: 'Rejected', description: 'no' } },
    });
    const rejected = await get(endpoint.ip, server.port, '/v2/', INSIDE, server.authHeader);
    expect(rejected.status).toBe(403);
    expect(rejected.body).toContain('is Rejected');
    const reapprove = await arm.arm('PUT', url, {
      properties: { privateLinkServiceConnectionState: { status: 'Approved' } },
    });
    expect(reapprove.status).toBe(400);
  });

  it('stops listening when the endpoint is deleted', async () => {
    expect(
      (await arm.arm('DELETE', `${group}/Microsoft.Network/privateEndpoints/pe1?${NET_API}`))
        .status,
    ).toBe(200);
    await expect(get('127.77.1.4', server.port, '/v2/', INSIDE, server.authHeader)).rejects.toThrow(
      /ECONNREFUSED|ECONNRESET|socket hang up/,
    );
    const connections = await arm.arm(
      'GET',
      `${arm.registryId()}/privateEndpointConnections?${ACR_API}`,
    );
    expect(
      (
        connections.body as { value: { properties: { privateEndpoint: { id: string } } }[] }
      ).value.map((c) => c.properties.privateEndpoint.id),
    ).not.toContain(`${group}/Microsoft.Network/privateEndpoints/pe1`);
  });

  it('stops listening when the registry behind the endpoint is deleted', async () => {
    const registry = `${group}/Microsoft.ContainerRegistry/registries/pegone${Date.now()}?${ACR_API}`;
    const created = await arm.arm('PUT', registry, { location: 'local', sku: { name: 'Premium' } });
    expect(created.status).toBe(201);
    const endpoint = await createEndpoint('pe-gone', false, (created.body as { id: string }).id);
    expect((await get(endpoint.ip, server.port, '/v2/', INSIDE, server.authHeader)).status).toBe(
      200,
    );
    expect((await arm.arm('DELETE', registry)).status).toBe(200);
    await expect(get(endpoint.ip, server.port, '/v2/', INSIDE, server.authHeader)).rejects.toThrow(
      /ECONNREFUSED|ECONNRESET|socket hang up/,
    );
  });

  it('validates networking resources', async () => {
    const outsideSubnet = await arm.arm(
      'PUT',
      `${group}/Microsoft.Network/virtualNetworks/badnet?${NET_API}`,
      {
        properties: {
          addressSpace: { addressPrefixes: ['10.0.0.0/16'] },
          subnets: [{ name: 's', properties: { addressPrefix: '10.1.0.0/24' } }],
        },
      },
    );
    expect(outsideSubnet.status).toBe(400);
    expect((outsideSubnet.body as { error: { code: string } }).error.code).toBe(
      'NetcfgSubnetRangeOutsideVnet',
    );
    const wrongGroup = await arm.arm(
      'PUT',
      `${group}/Microsoft.Network/privateEndpoints/pe3?${NET_API}`,
      {
        properties: {
          subnet: { id: `${group}/Microsoft.Network/virtualNetworks/vnet1/subnets/endpoints` },
          privateLinkServiceConnections: [
            {
              name: 'x',
              properties: { privateLinkServiceId: arm.registryId(), groupIds: ['blob'] },
            },
          ],
        },
      },
    );
    expect((wrongGroup.body as { error: { code: string } }).error.code).toBe('InvalidGroupId');
  });
});
