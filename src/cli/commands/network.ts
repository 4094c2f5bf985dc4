/**
 * @module cli/commands/network
 * `network vnet create`, `network private-endpoint create` and
 * `network private-endpoint-connection approve|reject|list` for registries, shaped like az's.
 */
import { Option, type Command } from 'commander';
import { CliError } from '../errors.js';
import { REGISTRY_API_VERSION, RESOURCES_API_VERSION } from '../management-client.js';
import { print, type GlobalOptions } from '../output.js';
import { resourceGroupOf, session, withGlobals, type ArmResource, type Session } from './common.js';

export const NETWORK_API_VERSION = '2024-05-01';
const REGISTRY_TYPE = 'Microsoft.ContainerRegistry/registries';

/** az's view of a network resource: properties merged to the top, `resourceGroup` added. */
function flat(resource: ArmResource): Record<string, unknown> {
  const { properties, ...rest } = resource;
  return { ...rest, ...(properties ?? {}), resourceGroup: resourceGroupOf(resource.id) ?? null };
}

function required(value: string | undefined, flags: string): string {
  if (!value) throw new CliError(`the following arguments are required: ${flags}`);
  return value;
}

async function groupLocation(s: Session, group: string, location?: string): Promise<string> {
  if (location) return location;
  return (
    await s.client.arm<{ location: string }>(
      'GET',
      `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${group}`,
      RESOURCES_API_VERSION,
    )
  ).location;
}

interface VnetOptions extends GlobalOptions {
  name?: string;
  resourceGroup?: string;
  location?: string;
  addressPrefixes?: string[];
  subnetName?: string;
  subnetPrefixes?: string[];
}

async function vnetCreate(options: VnetOptions): Promise<void> {
  const name = required(options.name, '--name/-n');
  const group = required(options.resourceGroup, '--resource-group/-g');
  if (options.subnetPrefixes && !options.subnetName) {
    throw new CliError('usage error: --subnet-name NAME [--subnet-prefixes PREFIXES]');
  }
  const s = session();
  const location = await groupLocation(s, group, options.location);
  const addressPrefixes = options.addressPrefixes ?? ['10.0.0.0/16'];
  const subnets = options.subnetName
    ? [
        {
          name: options.subnetName,
          properties: {
            addressPrefix: (options.subnetPrefixes ?? [
              addressPrefixes[0]!.replace(/\/\d+$/, '/24'),
            ])[0],
          },
        },
      ]
    : [];
  const vnet = await s.client.arm<ArmResource>(
    'PUT',
    `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/virtualNetworks/${name}`,
    NETWORK_API_VERSION,
    { location, properties: { addressSpace: { addressPrefixes }, subnets } },
  );
  const view = flat(vnet);
  view.subnets = ((vnet.properties?.subnets as ArmResource[] | undefined) ?? []).map((subnet) => ({
    ...flat({ ...subnet, id: subnet.id ?? `${vnet.id}/subnets/${subnet.name}` }),
  }));
  print({ newVNet: view }, options);
}

interface EndpointOptions extends GlobalOptions {
  name?: string;
  resourceGroup?: string;
  location?: string;
  vnetName?: string;
  subnet?: string;
  privateConnectionResourceId?: string;
  groupId?: string[];
  groupIds?: string[];
  connectionName?: string;
  manualRequest?: boolean;
  requestMessage?: string;
}

async function endpointCreate(options: EndpointOptions): Promise<void> {
  const name = required(options.name, '--name/-n');
  const group = required(options.resourceGroup, '--resource-group/-g');
  const subnet = required(options.subnet, '--subnet');
  const service = required(options.privateConnectionResourceId, '--private-connection-resource-id');
  const connectionName = required(options.connectionName, '--connection-name');
  const s = session();
  let subnetId = subnet;
  if (!subnet.startsWith('/')) {
    if (!options.vnetName) {
      throw new CliError('usage error: --subnet ID | --subnet NAME --vnet-name NAME');
    }
    subnetId = `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/virtualNetworks/${options.vnetName}/subnets/${subnet}`;
  }
  const location = await groupLocation(s, group, options.location);
  const link = {
    name: connectionName,
    properties: {
      privateLinkServiceId: service,
      groupIds: options.groupId ?? options.groupIds ?? [],
      ...(options.requestMessage ? { requestMessage: options.requestMessage } : {}),
    },
  };
  const endpoint = await s.client.arm<ArmResource>(
    'PUT',
    `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/privateEndpoints/${name}`,
    NETWORK_API_VERSION,
    {
      location,
      properties: {
        subnet: { id: subnetId },
        [options.manualRequest
          ? 'manualPrivateLinkServiceConnections'
          : 'privateLinkServiceConnections']: [link],
      },
    },
  );
  print(flat(endpoint), options);
}

interface ConnectionOptions extends GlobalOptions {
  id?: string;
  name?: string;
  resourceName?: string;
  resourceGroup?: string;
  type?: string;
  description?: string;
}

function registryPath(s: Session, group: string, registry: string, type?: string): string {
  if (type && type.toLowerCase() !== REGISTRY_TYPE.toLowerCase()) {
    throw new CliError(`Unsupported resource type '${type}': only ${REGISTRY_TYPE} is supported.`);
  }
  return `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${group}/providers/${REGISTRY_TYPE}/${registry}`;
}

/** The connection's ARM path from `--id`, or from `--name --resource-name -g --type`. */
function connectionPath(s: Session, options: ConnectionOptions): string {
  if (options.id) {
    if (
      !/\/providers\/Microsoft\.ContainerRegistry\/registries\/[^/]+\/privateEndpointConnections\/[^/]+$/i.test(
        options.id,
      )
    ) {
      throw new CliError(`'${options.id}' is not a registry private endpoint connection id.`);
    }
    return options.id;
  }
  if (!options.name || !options.resourceName || !options.resourceGroup || !options.type) {
    throw new CliError(
      'usage error: --id ID | --name NAME --resource-name NAME --resource-group NAME --type TYPE',
    );
  }
  return `${registryPath(s, options.resourceGroup, options.resourceName, options.type)}/privateEndpointConnections/${options.name}`;
}

async function setState(
  status: 'Approved' | 'Rejected',
  options: ConnectionOptions,
): Promise<void> {
  const s = session();
  const path = connectionPath(s, options);
  const current = await s.client.arm<ArmResource>('GET', path, REGISTRY_API_VERSION);
  const state = (current.properties?.privateLinkServiceConnectionState ?? {}) as Record<
    string,
    unknown
  >;
  const updated = await s.client.arm<ArmResource>('PUT', path, REGISTRY_API_VERSION, {
    properties: {
      ...current.properties,
      privateLinkServiceConnectionState: {
        ...state,
        status,
        description: options.description ?? status,
      },
    },
  });
  print(flat(updated), options);
}

async function listConnections(options: ConnectionOptions): Promise<void> {
  const s = session();
  let path: string;
  if (options.id) {
    if (!/\/providers\/Microsoft\.ContainerRegistry\/registries\/[^/]+$/i.test(options.id)) {
      throw new CliError(`'${options.id}' is not a container registry id.`);
    }
    path = options.id;
  } else {
    if (!options.name || !options.resourceGroup || !options.type) {
      throw new CliError('usage error: --id ID | --name NAME --resource-group NAME --type TYPE');
    }
    path = registryPath(s, options.resourceGroup, options.name, options.type);
  }
  const list = await s.client.arm<{ value: ArmResource[] }>(
    'GET',
    `${path}/privateEndpointConnections`,
    REGISTRY_API_VERSION,
  );
  print(list.value.map(flat), options);
}

export function registerNetworkCommands(program: Command): void {
  const network = program
    .command('network')
    .description('manage virtual networks and private endpoints');

  const vnet = network.command('vnet').description('virtual networks');
  withGlobals(
    vnet
      .command('create')
      .description('create a virtual network')
      .option('-n, --name <name>', 'the virtual network name')
      .option('-g, --resource-group <group>', 'resource group')
      .option('-l, --location <location>', "location (default: the resource group's)")
      .option('--address-prefixes <prefix...>', 'address prefixes (default: 10.0.0.0/16)')
      .option('--subnet-name <name>', 'name of a subnet to create')
      .option('--subnet-prefixes <prefix...>', "the subnet's address prefix"),
  ).action(vnetCreate);

  const endpoint = network.command('private-endpoint').description('private endpoints');
  withGlobals(
    endpoint
      .command('create')
      .description('create a private endpoint to a registry')
      .option('-n, --name <name>', 'the private endpoint name')
      .option('-g, --resource-group <group>', 'resource group')
      .option('-l, --location <location>', "location (default: the resource group's)")
      .option('--vnet-name <name>', 'the virtual network (when --subnet is a name)')
      .option('--subnet <subnet>', 'subnet name or id')
      .option('--private-connection-resource-id <id>', "the registry's resource id")
      .option('--group-id <id...>', "the sub-resource: 'registry'")
      .addOption(new Option('--group-ids <id...>', 'alias of --group-id').hideHelp())
      .option('--connection-name <name>', 'name of the private link service connection')
      .option('--manual-request', 'the connection needs approval by the registry owner')
      .option('--request-message <text>', 'message for a manual request'),
  ).action(endpointCreate);

  const connection = network
    .command('private-endpoint-connection')
    .description("a registry's private endpoint connections");
  const connectionOptions = (c: Command) =>
    c
      .option('--id <id>', 'the connection id')
      .option('-n, --name <name>', 'the connection name')
      .option('--resource-name <name>', "the registry's name")
      .option('-g, --resource-group <group>', 'resource group')
      .option('--type <type>', 'Microsoft.ContainerRegistry/registries')
      .option('--description <text>', 'comments for the action');
  for (const [action, status] of [
    ['approve', 'Approved'],
    ['reject', 'Rejected'],
  ] as const) {
    withGlobals(
      connectionOptions(
        connection.command(action).description(`${action} a private endpoint connection`),
      ),
    ).action((options: ConnectionOptions) => setState(status, options));
  }
  withGlobals(
    connection
      .command('list')
      .description("list a registry's private endpoint connections")
      .option('--id <id>', "the registry's resource id")
      .option('-n, --name <name>', "the registry's name")
      .option('-g, --resource-group <group>', 'resource group')
      .option('--type <type>', 'Microsoft.ContainerRegistry/registries'),
  ).action(listConnections);
}
