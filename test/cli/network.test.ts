/**
 * `network vnet create`, `network private-endpoint create` and
 * `network private-endpoint-connection approve|reject|list` against a live server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server.js';
import { startCliSession, type CliSession } from './cli.js';

let session: CliSession;
let server: RunningServer;
let registryId: string;
let group: string;
const run = (...args: string[]) => session.run(...args);

beforeAll(async () => {
  session = await startCliSession();
  ({ server } = session);
  expect(run('login').status).toBe(0);
  registryId = run('acr', 'show', '-n', 'myregistry', '--query', 'id', '-o', 'tsv').stdout.trim();
  group = `/subscriptions/${server.owner.subscriptionId}/resourceGroups/breakwater`;
});

afterAll(async () => {
  await session?.close();
});

interface Connection {
  id: string;
  name: string;
  privateLinkServiceConnectionState: { status: string; description: string };
}

describe('network vnet create', () => {
  it('creates a vnet with a subnet, answering newVNet', () => {
    const result = run(
      'network',
      'vnet',
      'create',
      '--name',
      'build-vnet',
      '--resource-group',
      'breakwater',
      '--address-prefixes',
      '10.20.0.0/16',
      '--subnet-name',
      'builders',
      '--subnet-prefixes',
      '10.20.1.0/24',
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.json()).toEqual({
      newVNet: expect.objectContaining({
        addressSpace: { addressPrefixes: ['10.20.0.0/16'] },
        id: `${group}/providers/Microsoft.Network/virtualNetworks/build-vnet`,
        name: 'build-vnet',
        resourceGroup: 'breakwater',
        type: 'Microsoft.Network/virtualNetworks',
        subnets: [
          expect.objectContaining({
            addressPrefix: '10.20.1.0/24',
            id: `${group}/providers/Microsoft.Network/virtualNetworks/build-vnet/subnets/builders`,
            name: 'builders',
          }),
        ],
      }),
    });
  });

  it('reports a subnet outside the address space and missing arguments', () => {
    const outside = run(
      'network',
      'vnet',
      'create',
      '-n',
      'bad-vnet',
      '-g',
      'breakwater',
      '--address-prefixes',
      '10.30.0.0/16',
      '--subnet-name',
      's',
      '--subnet-prefixes',
      '10.31.0.0/24',
    );
    expect(outside.status).toBe(1);
    expect(outside.stderr).toMatch(/^ERROR: .+\n$/);
    expect(outside.stdout).toBe('');
    const noGroup = run('network', 'vnet', 'create', '-n', 'bad-vnet');
    expect(noGroup.status).toBe(1);
    expect(noGroup.stderr).toBe(
      'ERROR: the following arguments are required: --resource-group/-g\n',
    );
  });
});

describe('network private-endpoint and private-endpoint-connection', () => {
  it('creates an auto-approved private endpoint to the registry', () => {
    const result = run(
      'network',
      'private-endpoint',
      'create',
      '--name',
      'pe-auto',
      '--resource-group',
      'breakwater',
      '--vnet-name',
      'build-vnet',
      '--subnet',
      'builders',
      '--private-connection-resource-id',
      registryId,
      '--group-id',
      'registry',
      '--connection-name',
      'conn-auto',
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.json()).toMatchObject({
      name: 'pe-auto',
      resourceGroup: 'breakwater',
      subnet: {
        id: `${group}/providers/Microsoft.Network/virtualNetworks/build-vnet/subnets/builders`,
      },
      privateLinkServiceConnections: [
        {
          name: 'conn-auto',
          properties: { privateLinkServiceId: registryId, groupIds: ['registry'] },
        },
      ],
    });
    const listed = run('network', 'private-endpoint-connection', 'list', '--id', registryId);
    expect(listed.status).toBe(0);
    expect(listed.json<Connection[]>()).toEqual([
      expect.objectContaining({
        // The registry side names the connection after the endpoint, as Azure does.
        name: expect.stringMatching(/^pe-auto\./),
        privateEndpoint: {
          id: `${group}/providers/Microsoft.Network/privateEndpoints/pe-auto`,
        },
        resourceGroup: 'breakwater',
        type: 'Microsoft.ContainerRegistry/registries/privateEndpointConnections',
        privateLinkServiceConnectionState: expect.objectContaining({ status: 'Approved' }),
      }),
    ]);
  });

  it('approves and rejects manual requests by id and by name', () => {
    for (const name of ['pe-one', 'pe-two']) {
      const created = run(
        'network',
        'private-endpoint',
        'create',
        '-n',
        name,
        '-g',
        'breakwater',
        '--vnet-name',
        'build-vnet',
        '--subnet',
        'builders',
        '--private-connection-resource-id',
        registryId,
        '--group-id',
        'registry',
        '--connection-name',
        `conn-${name}`,
        '--manual-request',
      );
      expect(created.status).toBe(0);
      expect(created.json()).toHaveProperty('manualPrivateLinkServiceConnections');
    }
    const pending = run(
      'network',
      'private-endpoint-connection',
      'list',
      '-n',
      'myregistry',
      '-g',
      'breakwater',
      '--type',
      'Microsoft.ContainerRegistry/registries',
      '--query',
      "[?privateLinkServiceConnectionState.status=='Pending'].name",
    );
    const [one, two] = pending.json<string[]>().sort();
    expect(one).toMatch(/^pe-one\./);
    expect(two).toMatch(/^pe-two\./);

    const approved = run(
      'network',
      'private-endpoint-connection',
      'approve',
      '--id',
      `${registryId}/privateEndpointConnections/${one}`,
      '--description',
      'ok by ops',
    );
    expect(approved.stderr).toBe('');
    expect(approved.status).toBe(0);
    expect(approved.json()).toMatchObject({
      name: one,
      privateLinkServiceConnectionState: { status: 'Approved', description: 'ok by ops' },
    });
    const rejected = run(
      'network',
      'private-endpoint-connection',
      'reject',
      '--name',
      two!,
      '--resource-name',
      'myregistry',
      '-g',
      'breakwater',
      '--type',
      'Microsoft.ContainerRegistry/registries',
    );
    expect(rejected.status).toBe(0);
    expect(rejected.json()).toMatchObject({
      privateLinkServiceConnectionState: { status: 'Rejected' },
    });
    const reapprove = run(
      'network',
      'private-endpoint-connection',
      'approve',
      '--name',
      two!,
      '--resource-name',
      'myregistry',
      '-g',
      'breakwater',
      '--type',
      'Microsoft.ContainerRegistry/registries',
    );
    expect(reapprove.status).toBe(1);
    expect(reapprove.stderr).toBe(
      'ERROR: A rejected private endpoint connection cannot be approved; recreate the private endpoint.\n',
    );
  });

  it('reports bad usage and unknown things on one line', () => {
    const noTarget = run(
      'network',
      'private-endpoint-connection',
      'approve',
      '--name',
      'conn-pe-one',
    );
    expect(noTarget.status).toBe(1);
    expect(noTarget.stderr).toBe(
      'ERROR: usage error: --id ID | --name NAME --resource-name NAME --resource-group NAME --type TYPE\n',
    );
    const badType = run(
      'network',
      'private-endpoint-connection',
      'list',
      '-n',
      'x',
      '-g',
      'breakwater',
      '--type',
      'Microsoft.Storage/storageAccounts',
    );
    expect(badType.status).toBe(1);
    expect(badType.stderr).toBe(
      "ERROR: Unsupported resource type 'Microsoft.Storage/storageAccounts': only Microsoft.ContainerRegistry/registries is supported.\n",
    );
    const unknown = run(
      'network',
      'private-endpoint-connection',
      'approve',
      '--id',
      `${registryId}/privateEndpointConnections/nosuch`,
    );
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/^ERROR: .*nosuch.*\n$/);
    const badGroup = run(
      'network',
      'private-endpoint',
      'create',
      '-n',
      'pe-bad',
      '-g',
      'breakwater',
      '--vnet-name',
      'build-vnet',
      '--subnet',
      'builders',
      '--private-connection-resource-id',
      registryId,
      '--group-id',
      'blob',
      '--connection-name',
      'c',
    );
    expect(badGroup.status).toBe(1);
    expect(badGroup.stderr).toBe(
      "ERROR: A registry private endpoint needs groupIds ['registry'].\n",
    );
    const noVnet = run(
      'network',
      'private-endpoint',
      'create',
      '-n',
      'pe-bad',
      '-g',
      'breakwater',
      '--subnet',
      'builders',
      '--private-connection-resource-id',
      registryId,
      '--group-id',
      'registry',
      '--connection-name',
      'c',
    );
    expect(noVnet.stderr).toBe(
      'ERROR: usage error: --subnet ID | --subnet NAME --vnet-name NAME\n',
    );
  });

  it('answers --help', () => {
    for (const args of [
      ['network', 'vnet', 'create'],
      ['network', 'private-endpoint', 'create'],
      ['network', 'private-endpoint-connection', 'approve'],
      ['network', 'private-endpoint-connection', 'list'],
    ]) {
      const result = run(...args, '--help');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('Usage: breakwater network');
    }
  });
});
