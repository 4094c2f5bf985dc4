/**
 * Private endpoints across replicas: two `breakwater serve` replicas on one PostgreSQL database
 * and one Azurite container. Every networking change goes through replica A's management API;
 * replica B must follow from the shared metadata alone: listen on the endpoint's private address
 * (on its own data port, as each replica would on its own host), serve the registry there
 * through the private door while public access is disabled, refuse once the connection is
 * rejected, and stop listening when the endpoint is deleted. Clients choose their source address
 * inside the virtual network (`localAddress`; every 127.x.y.z is local on Linux).
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArmClient } from '../support/arm-client.js';
import { startAzurite, type AzuriteServer } from '../support/azurite.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';
import { pushSmallImage } from '../support/small-image.js';

const enabled = requirePostgres();
const NET_API = 'api-version=2023-05-01';
const ACR_API = 'api-version=2023-07-01';
/** The virtual network's range; the endpoint gets the subnet's first free address. */
const VNET = '127.78.0.0/16';
const SUBNET = '127.78.1.0/24';
const ENDPOINT_IP = '127.78.1.4';
/** A client inside the virtual network, and one outside it. */
const INSIDE = '127.78.1.10';
/** TEST-NET-1 (RFC 5737): an address no host here has, so no replica can listen on it. */
const ELSEWHERE = '192.0.2.0/24';
/** A replica follows a change made through another within its 2 s check; this bounds the wait. */
const FOLLOWS = { timeout: 30_000, interval: 100 };

interface Answer {
  status: number;
  body: string;
}

/** One GET from `source`, on a fresh connection (a pooled one could outlive a closed listener). */
function get(host: string, port: number, path: string, source: string, auth: string) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      { host, port, path, localAddress: source, agent: false, headers: { authorization: auth } },
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

/** The status, or the connection error's code when nothing answers. */
async function statusOrError(...args: Parameters<typeof get>): Promise<number | string> {
  return get(...args).then(
    (answer) => answer.status,
    (error: NodeJS.ErrnoException) => error.code ?? String(error),
  );
}

describe.skipIf(!enabled)('private endpoints on every replica', () => {
  let postgres: PostgresServer;
  let azurite: AzuriteServer;
  let a: RunningServer;
  let b: RunningServer;
  let arm: ArmClient;
  let group: string;
  const layer = 'private endpoint layer';
  let manifest: string;
  let config: string;
  let configBody: string;

  beforeAll(async () => {
    postgres = await startPostgres();
    azurite = await startAzurite();
    const env = {
      BREAKWATER_METADATA_URL: await postgres.createDatabase(),
      BREAKWATER_STORAGE: `azure://${azurite.newContainer()}`,
      BREAKWATER_STORAGE_CONNECTION_STRING: azurite.connectionString,
      BREAKWATER_LOG_LEVEL: 'info',
    };
    // A bootstraps the database; B gets its keys, TLS material and owner (docs/deployment.md).
    a = await startServer({ env });
    const dataDir = mkdtempSync(join(tmpdir(), 'breakwater-replica-'));
    for (const part of ['keys', 'tls', 'bootstrap.json']) {
      cpSync(join(a.dataDir, part), join(dataDir, part), { recursive: true });
    }
    b = await startServer({ dataDir, env });
    arm = new ArmClient(a);
    group = `/subscriptions/${a.owner.subscriptionId}/resourceGroups/breakwater/providers`;

    // An image to pull, pushed through A's public endpoint while it is still open.
    ({ manifest, configBody, config } = await pushSmallImage(a, 'pe/app', 'v1', layer));
  }, 120_000);

  afterAll(async () => {
    for (const replica of [a, b]) {
      if (!replica) continue;
      await replica.stop();
      removeDataDir(replica.dataDir);
    }
    await azurite?.stop();
    await postgres?.stop();
  });

  const diagnostics = () =>
    `--- replica A ---\n${a.output().slice(-3000)}\n--- replica B ---\n${b.output().slice(-3000)}`;

  async function throughA(method: string, path: string, body: unknown): Promise<unknown> {
    const response = await arm.arm(method, path, body);
    expect(response.status, `${method} ${path}: ${response.text}`).toBeLessThan(300);
    return response.body;
  }
  const putThroughA = (path: string, body: unknown) => throughA('PUT', path, body);

  /** B's log records of `msg`, parsed. */
  const logOfB = (msg: string) =>
    b
      .output()
      .split('\n')
      .filter((line) => line.includes(`"msg":"${msg}"`))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  async function createEndpoint(
    name: string,
    vnet: string,
    registryId = arm.registryId(),
  ): Promise<{ ip: string; connection: string }> {
    const created = (await putThroughA(
      `${group}/Microsoft.Network/privateEndpoints/${name}?${NET_API}`,
      {
        location: 'local',
        properties: {
          subnet: { id: `${group}/Microsoft.Network/virtualNetworks/${vnet}/subnets/endpoints` },
          privateLinkServiceConnections: [
            {
              name: `${name}-link`,
              properties: { privateLinkServiceId: registryId, groupIds: ['registry'] },
            },
          ],
        },
      },
    )) as { properties: { privateIPAddress: string; connectionId: string } };
    return { ip: created.properties.privateIPAddress, connection: created.properties.connectionId };
  }

  let connection: string;

  it('serves an endpoint created through A on B too, through the private door only', async () => {
    for (const [name, prefix, subnet] of [
      ['elsewhere', ELSEWHERE, ELSEWHERE],
      ['vnet1', VNET, SUBNET],
    ] as const) {
      await putThroughA(`${group}/Microsoft.Network/virtualNetworks/${name}?${NET_API}`, {
        location: 'local',
        properties: {
          addressSpace: { addressPrefixes: [prefix] },
          subnets: [{ name: 'endpoints', properties: { addressPrefix: subnet } }],
        },
      });
    }
    // An endpoint whose address is on no host here: every replica logs it, and it holds up no other.
    await createEndpoint('pe-elsewhere', 'elsewhere');
    const endpoint = await createEndpoint('pe1', 'vnet1');
    expect(endpoint.ip).toBe(ENDPOINT_IP);
    connection = endpoint.connection;
    await throughA('PATCH', `${arm.registryId()}?${ACR_API}`, {
      properties: { publicNetworkAccess: 'Disabled' },
    });

    await expect
      .poll(() => statusOrError(ENDPOINT_IP, b.port, '/v2/', INSIDE, b.authHeader), FOLLOWS)
      .toBe(200);
    const pulledManifest = await get(
      ENDPOINT_IP,
      b.port,
      '/v2/pe/app/manifests/v1',
      INSIDE,
      b.authHeader,
    );
    expect(pulledManifest, diagnostics()).toEqual({ status: 200, body: manifest });
    const pulledConfig = await get(
      ENDPOINT_IP,
      b.port,
      `/v2/pe/app/blobs/${config}`,
      INSIDE,
      b.authHeader,
    );
    expect(pulledConfig).toEqual({ status: 200, body: configBody });
    // The same client on B's public endpoint: public access is disabled.
    const publicDoor = await get(
      '127.0.0.1',
      b.port,
      '/v2/pe/app/manifests/v1',
      INSIDE,
      b.authHeader,
    );
    expect(publicDoor.status).toBe(403);
    expect(publicDoor.body).toContain('public network access to this registry is disabled');

    // A replica's log reaches this process through a pipe, possibly after its answer did.
    await expect
      .poll(
        () =>
          logOfB('private endpoint could not listen on this replica').map((r) => [
            r.endpoint,
            r.reason,
          ]),
        FOLLOWS,
      )
      .toContainEqual(['pe-elsewhere', 'EADDRNOTAVAIL']);
  }, 60_000);

  it('refuses on B as soon as the connection is rejected through A', async () => {
    await putThroughA(`${arm.registryId()}/privateEndpointConnections/${connection}?${ACR_API}`, {
      properties: { privateLinkServiceConnectionState: { status: 'Rejected' } },
    });
    // The private door reads the approval per request: no wait for B's check.
    const refused = await get(ENDPOINT_IP, b.port, '/v2/', INSIDE, b.authHeader);
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('is Rejected');
  });

  it('stops listening on B when the endpoint is deleted through A', async () => {
    // Still listening (and refusing): the deletion is what must close it.
    expect(await statusOrError(ENDPOINT_IP, b.port, '/v2/', INSIDE, b.authHeader)).toBe(403);
    const deleted = await arm.arm(
      'DELETE',
      `${group}/Microsoft.Network/privateEndpoints/pe1?${NET_API}`,
    );
    expect(deleted.status).toBe(200);
    expect(await statusOrError(ENDPOINT_IP, a.port, '/v2/', INSIDE, a.authHeader)).toBe(
      'ECONNREFUSED',
    );
    await expect
      .poll(() => statusOrError(ENDPOINT_IP, b.port, '/v2/', INSIDE, b.authHeader), FOLLOWS)
      .toBe('ECONNREFUSED');
  }, 60_000);

  it('stops listening on B when the registry behind an endpoint is deleted through A', async () => {
    const registry = `${group}/Microsoft.ContainerRegistry/registries/pe${Date.now()}?${ACR_API}`;
    const created = (await putThroughA(registry, {
      location: 'local',
      sku: { name: 'Premium' },
    })) as { id: string };
    const endpoint = await createEndpoint('pe2', 'vnet1', created.id);
    await expect
      .poll(() => statusOrError(endpoint.ip, b.port, '/v2/', INSIDE, b.authHeader), FOLLOWS)
      .toBe(200);
    expect((await arm.arm('DELETE', registry)).status).toBe(200);
    await expect
      .poll(() => statusOrError(endpoint.ip, b.port, '/v2/', INSIDE, b.authHeader), FOLLOWS)
      .toBe('ECONNREFUSED');
  }, 60_000);
});
