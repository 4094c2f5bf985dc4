/**
 * The door part of the adversarial matrix on real sockets: a real server, private endpoint
 * listeners bound on a loopback virtual network (every 127.x.y.z is local on Linux), and clients
 * choosing their source address. What `inject` cannot show: the address the registry judges is
 * the socket's, a forged `X-Forwarded-For` from outside the network changes nothing, and another
 * registry's endpoint never serves this registry's content whatever the Host header says.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArmClient } from '../support/arm-client.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';

const NET_API = 'api-version=2023-05-01';
const ACR_API = 'api-version=2023-07-01';
// Its own loopback range, apart from test/e2e/private-endpoints (127.77).
const INSIDE = '127.79.1.10';
const OUTSIDE = '127.0.0.1';

interface Answer {
  status: number;
  body: string;
}

function send(
  target: string,
  port: number,
  path: string,
  source: string,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target, port, path, localAddress: source, headers, agent: false },
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

const code = (answer: Answer) =>
  (JSON.parse(answer.body) as { errors: { code: string }[] }).errors[0]?.code;

describe('private doors on real sockets', () => {
  let server: RunningServer;
  let arm: ArmClient;
  let group: string;
  let peA: string;
  let peB: string;
  let manifestPath: string;

  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    arm = new ArmClient(server);
    group = `/subscriptions/${server.owner.subscriptionId}/resourceGroups/breakwater/providers`;
    const other = await arm.arm(
      'PUT',
      `${group}/Microsoft.ContainerRegistry/registries/otherreg?${ACR_API}`,
      { location: 'local', sku: { name: 'Premium' } },
    );
    expect(other.status).toBeLessThan(300);
    expect(
      (
        await arm.arm('PUT', `${group}/Microsoft.Network/virtualNetworks/advnet?${NET_API}`, {
          location: 'local',
          properties: {
            addressSpace: { addressPrefixes: ['127.79.0.0/16'] },
            subnets: [{ name: 'endpoints', properties: { addressPrefix: '127.79.1.0/24' } }],
          },
        })
      ).status,
    ).toBe(201);
    const endpoint = async (name: string, registry: string) => {
      const created = await arm.arm(
        'PUT',
        `${group}/Microsoft.Network/privateEndpoints/${name}?${NET_API}`,
        {
          location: 'local',
          properties: {
            subnet: { id: `${group}/Microsoft.Network/virtualNetworks/advnet/subnets/endpoints` },
            privateLinkServiceConnections: [
              {
                name: `${name}-link`,
                properties: {
                  privateLinkServiceId: `${group}/Microsoft.ContainerRegistry/registries/${registry}`,
                  groupIds: ['registry'],
                },
              },
            ],
          },
        },
      );
      expect(created.status).toBe(201);
      return (created.body as { properties: { privateIPAddress: string } }).properties
        .privateIPAddress;
    };
    peA = await endpoint('adv-pe-a', 'myregistry');
    peB = await endpoint('adv-pe-b', 'otherreg');

    // An image in myregistry, pushed on the public endpoint.
    const digest = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
    const config = '{"architecture":"amd64","os":"linux"}';
    const put = await fetch(`${server.url}/v2/adv/app/blobs/uploads/?digest=${digest(config)}`, {
      method: 'POST',
      headers: { authorization: server.authHeader, 'content-type': 'application/octet-stream' },
      body: config,
    });
    expect(put.status).toBe(201);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: digest(config),
        size: config.length,
      },
      layers: [],
    });
    const pushed = await fetch(`${server.url}/v2/adv/app/manifests/v1`, {
      method: 'PUT',
      headers: {
        authorization: server.authHeader,
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
      },
      body: manifest,
    });
    expect(pushed.status).toBe(201);
    manifestPath = '/v2/adv/app/manifests/v1';
    // Public access off: only the private doors remain.
    const patched = await arm.arm('PATCH', `${arm.registryId()}?${ACR_API}`, {
      properties: { publicNetworkAccess: 'Disabled', networkRuleBypassOptions: 'None' },
    });
    expect(patched.status).toBe(200);
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  const owner = () => ({ authorization: server.authHeader, host: 'myregistry.azurecr.localhost' });

  it('serves the registry to a client inside the network (control)', async () => {
    const answer = await send(peA, server.port, manifestPath, INSIDE, owner());
    expect(answer.status).toBe(200);
  });

  it('judges the socket, not a forged X-Forwarded-For, on the private door', async () => {
    const forged = await send(peA, server.port, manifestPath, OUTSIDE, {
      ...owner(),
      'x-forwarded-for': INSIDE,
    });
    expect(forged.status).toBe(403);
    expect(code(forged)).toBe('DENIED');
    expect(forged.body).toContain('outside the virtual network');
  });

  it('judges the socket, not a forged X-Forwarded-For, on the public door', async () => {
    const forged = await send('127.0.0.1', server.port, manifestPath, OUTSIDE, {
      ...owner(),
      'x-forwarded-for': INSIDE,
    });
    expect(forged.status).toBe(403);
    expect(code(forged)).toBe('DENIED');
  });

  it("never serves this registry's content through another registry's endpoint", async () => {
    const wrongDoor = await send(peB, server.port, manifestPath, INSIDE, owner());
    expect(wrongDoor.status).toBe(404);
    expect(code(wrongDoor)).toBe('NAME_UNKNOWN');
    const token = await send(
      peB,
      server.port,
      '/oauth2/token?service=myregistry.azurecr.localhost&scope=repository:adv/app:pull',
      INSIDE,
      owner(),
    );
    expect(token.status).toBe(401);
    expect(code(token)).toBe('UNAUTHORIZED');
  });

  it('refuses a request without credentials inside the network with the 401 challenge', async () => {
    const anonymous = await send(peA, server.port, manifestPath, INSIDE, {
      host: 'myregistry.azurecr.localhost',
    });
    expect(anonymous.status).toBe(401);
    expect(code(anonymous)).toBe('UNAUTHORIZED');
  });
});
