/**
 * @module management/routes/networking
 * Private networking: `Microsoft.Network/virtualNetworks` (address space, subnets),
 * `Microsoft.Network/privateEndpoints` (a private address in a subnet, connected to a registry
 * with group id `registry`), and the registry's `privateEndpointConnections` with their approval
 * state. A connection is auto-approved when its creator may manage the registry, otherwise it is
 * Pending until approved or rejected. Every change re-binds the private endpoint listeners.
 */
import { IpRuleSet, parseAddress, parseRule } from '../../network/index.js';
import type { RegistryRecord, ResourceRecord } from '../../metadata/index.js';
import { ArmError, armErrors } from '../arm-errors.js';
import type { ArmRequestContext, ArmRouter } from '../arm-router.js';
import { checkApiVersion, REGISTRY_API_VERSIONS } from '../api-versions.js';
import type { ManagementContext } from '../context.js';
import { REGISTRY_TYPE } from '../registry-resource.js';
import { parseResourceId, resourceId } from '../resource-id.js';
import { findRegistry } from './registries.js';
import { beginResourcePut, registerResourceReads, writeResource } from './resource-reads.js';
import { requireResourceGroup, resourceToArm } from './subscriptions.js';
import { isObject } from '../../core/json.js';

export const VNET_TYPE = 'Microsoft.Network/virtualNetworks';
export const PRIVATE_ENDPOINT_TYPE = 'Microsoft.Network/privateEndpoints';
const CONNECTION_TYPE = `${REGISTRY_TYPE}/privateEndpointConnections`;
const STATUSES = ['Approved', 'Pending', 'Rejected', 'Disconnected'] as const;

export interface PrivateEndpointConnection {
  id: string;
  name: string;
  type: string;
  properties: {
    provisioningState: 'Succeeded';
    privateEndpoint: { id: string };
    privateLinkServiceConnectionState: {
      status: (typeof STATUSES)[number];
      description: string;
      actionsRequired: 'None' | 'Recreate';
    };
  };
}

function connectionsOf(registry: RegistryRecord): PrivateEndpointConnection[] {
  return (
    (registry.properties.privateEndpointConnections as PrivateEndpointConnection[] | undefined) ??
    []
  );
}

/** Validates a virtual network body: CIDR address prefixes, subnets inside them. */
function parseVnetProperties(input: unknown): Record<string, unknown> {
  const properties = isObject(input) ? input : {};
  const space = isObject(properties.addressSpace) ? properties.addressSpace : {};
  const prefixes = space.addressPrefixes;
  if (!Array.isArray(prefixes) || prefixes.length === 0) {
    throw new ArmError(
      400,
      'InvalidAddressSpace',
      'The virtual network needs at least one address prefix in addressSpace.addressPrefixes.',
    );
  }
  for (const prefix of prefixes) {
    try {
      parseRule(String(prefix));
    } catch {
      throw new ArmError(
        400,
        'InvalidAddressPrefixFormat',
        `Address prefix '${String(prefix)}' is not a valid CIDR range.`,
      );
    }
  }
  const space_ = new IpRuleSet(prefixes.map(String));
  const subnets = Array.isArray(properties.subnets) ? properties.subnets : [];
  const parsedSubnets = subnets.map((subnet) => {
    const name = isObject(subnet) ? subnet.name : undefined;
    const prefix =
      isObject(subnet) && isObject(subnet.properties) ? subnet.properties.addressPrefix : undefined;
    if (typeof name !== 'string' || typeof prefix !== 'string') {
      throw new ArmError(
        400,
        'InvalidRequestFormat',
        'Each subnet needs a name and properties.addressPrefix.',
      );
    }
    let rule;
    try {
      rule = parseRule(prefix);
    } catch {
      throw new ArmError(
        400,
        'InvalidAddressPrefixFormat',
        `Subnet prefix '${prefix}' is not a valid CIDR range.`,
      );
    }
    const first = parseAddress(prefix.split('/')[0]!);
    if (
      !first ||
      !space_.match(first) ||
      !prefixes.some((p) => parseRule(String(p)).prefix <= rule.prefix)
    ) {
      throw new ArmError(
        400,
        'NetcfgSubnetRangeOutsideVnet',
        `Subnet '${name}' is not valid because its IP address range is outside the IP address range of virtual network.`,
      );
    }
    return { name, properties: { addressPrefix: prefix, provisioningState: 'Succeeded' } };
  });
  return {
    addressSpace: { addressPrefixes: prefixes.map(String) },
    subnets: parsedSubnets,
    provisioningState: 'Succeeded',
  };
}

/** The next free address of a subnet, from its fifth (Azure keeps the first four and the last). */
function allocateAddress(prefix: string, taken: Set<string>): string {
  const rule = parseRule(prefix);
  const bits = rule.family === 4 ? 32 : 128;
  const size = 1n << BigInt(bits - rule.prefix);
  for (let offset = 4n; offset < size - 1n && offset < 65_536n; offset += 1n) {
    const value = rule.network + offset;
    const text =
      rule.family === 4
        ? [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join('.')
        : (value.toString(16).padStart(32, '0').match(/.{4}/g) ?? []).join(':');
    const canonical = parseAddress(text)!.text;
    if (!taken.has(canonical)) return canonical;
  }
  throw new ArmError(400, 'SubnetIsFull', `Subnet ${prefix} has no free address.`);
}

export function registerNetworkingRoutes(router: ArmRouter, context: ManagementContext): void {
  const { auth, controlPlane, metadata } = context;
  const group = '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers';
  const changed = () => context.onNetworkChanged?.() ?? Promise.resolve();

  registerResourceReads(router, context, VNET_TYPE);
  registerResourceReads(router, context, PRIVATE_ENDPOINT_TYPE);

  router.add('PUT', `${group}/${VNET_TYPE}/:name`, async (request) => {
    const { params, reply } = request;
    const { id, group: rg, existing, input } = await beginResourcePut(context, request, VNET_TYPE);
    const properties = parseVnetProperties(input.properties);
    const resource = await writeResource(context, {
      id,
      type: VNET_TYPE,
      subscriptionId: params.subscriptionId!,
      group: rg,
      name: params.name!,
      existing,
      input,
      properties: {
        ...properties,
        subnets: (properties.subnets as Array<{ name: string }>).map((s) => ({
          id: `${id}/subnets/${s.name}`,
          ...s,
        })),
      },
    });
    await changed();
    reply.code(existing ? 200 : 201);
    return resourceToArm(resource);
  });

  router.add('DELETE', `${group}/${VNET_TYPE}/:name`, async ({ caller, params, reply }) => {
    const id = resourceId(params.subscriptionId!, params.resourceGroup!, VNET_TYPE, params.name!);
    await auth.authorize(caller, `${VNET_TYPE}/delete`, id);
    const endpoints = await controlPlane.listResources({
      subscriptionId: params.subscriptionId!,
      type: PRIVATE_ENDPOINT_TYPE,
    });
    if (
      endpoints.some((e) =>
        String((e.properties.subnet as { id?: string })?.id ?? '')
          .toLowerCase()
          .startsWith(`${id.toLowerCase()}/`),
      )
    ) {
      throw new ArmError(
        400,
        'InUseSubnetCannotBeDeleted',
        `Virtual network ${params.name} has private endpoints; delete them first.`,
      );
    }
    reply.code((await controlPlane.deleteResource(id)) ? 200 : 204);
    return '';
  });

  router.add('PUT', `${group}/${PRIVATE_ENDPOINT_TYPE}/:name`, async (request) =>
    putPrivateEndpoint(request),
  );

  async function putPrivateEndpoint({ caller, params, body, reply }: ArmRequestContext) {
    const id = resourceId(
      params.subscriptionId!,
      params.resourceGroup!,
      PRIVATE_ENDPOINT_TYPE,
      params.name!,
    );
    await auth.authorize(caller, `${PRIVATE_ENDPOINT_TYPE}/write`, id);
    const rg = await requireResourceGroup(context, params.subscriptionId!, params.resourceGroup!);
    const input = isObject(body) ? body : {};
    const properties = isObject(input.properties) ? input.properties : {};
    const subnetId = isObject(properties.subnet) ? String(properties.subnet.id ?? '') : '';
    const vnetId = subnetId.replace(/\/subnets\/[^/]+$/i, '');
    const vnet = await controlPlane.getResource(vnetId);
    const subnet = (
      vnet?.properties.subnets as
        Array<{ name: string; properties: { addressPrefix: string } }> | undefined
    )?.find((s) => `${vnet!.id}/subnets/${s.name}`.toLowerCase() === subnetId.toLowerCase());
    if (!vnet || !subnet)
      throw new ArmError(400, 'InvalidSubnetId', `Subnet '${subnetId}' was not found.`);
    const manual =
      Array.isArray(properties.manualPrivateLinkServiceConnections) &&
      properties.manualPrivateLinkServiceConnections.length > 0;
    const links = (
      manual
        ? properties.manualPrivateLinkServiceConnections
        : properties.privateLinkServiceConnections
    ) as unknown[] | undefined;
    const link = Array.isArray(links) && isObject(links[0]) ? links[0] : undefined;
    const linkProperties = link && isObject(link.properties) ? link.properties : {};
    const serviceId = String(linkProperties.privateLinkServiceId ?? '');
    const groupIds = linkProperties.groupIds;
    if (
      !Array.isArray(groupIds) ||
      groupIds.length !== 1 ||
      String(groupIds[0]).toLowerCase() !== 'registry'
    ) {
      throw new ArmError(
        400,
        'InvalidGroupId',
        "A registry private endpoint needs groupIds ['registry'].",
      );
    }
    const parsedService = parseResourceId(serviceId);
    if (!parsedService?.type || parsedService.type.toLowerCase() !== REGISTRY_TYPE.toLowerCase()) {
      throw new ArmError(
        400,
        'InvalidPrivateLinkServiceId',
        `'${serviceId}' is not a container registry.`,
      );
    }
    const registry = await findRegistry(
      context,
      parsedService.subscriptionId,
      parsedService.resourceGroup!,
      parsedService.name!,
    );
    if ((registry.arm?.sku.name ?? 'Premium') !== 'Premium') {
      throw new ArmError(
        400,
        'PrivateEndpointNotSupported',
        `Private endpoints are supported only for Premium registries; '${registry.name}' is ${registry.arm?.sku.name}.`,
      );
    }
    const existing = await controlPlane.getResource(id);
    const others = await controlPlane.listResources({
      subscriptionId: params.subscriptionId!,
      type: PRIVATE_ENDPOINT_TYPE,
    });
    const taken = new Set(
      others
        .filter((o) => o.id.toLowerCase() !== id.toLowerCase())
        .map((o) => String(o.properties.privateIPAddress)),
    );
    const requested =
      typeof properties.privateIPAddress === 'string'
        ? parseAddress(properties.privateIPAddress)?.text
        : undefined;
    if (
      requested &&
      (!new IpRuleSet([subnet.properties.addressPrefix]).match(parseAddress(requested)!) ||
        taken.has(requested))
    ) {
      throw new ArmError(
        400,
        'PrivateIPAddressNotInSubnet',
        `Address ${requested} is not free in subnet ${subnet.properties.addressPrefix}.`,
      );
    }
    const address =
      (existing?.properties.privateIPAddress as string | undefined) ??
      requested ??
      allocateAddress(subnet.properties.addressPrefix, taken);
    // The creator's right to manage the registry decides auto-approval, as in Azure.
    const autoApprove =
      !manual &&
      (await auth.isAllowed(
        caller,
        `${REGISTRY_TYPE}/privateEndpointConnectionsApproval/action`,
        registry.arm!.resourceId,
      ));
    const connectionName = `${params.name}.${
      existing
        ? String(existing.properties.connectionId ?? '')
            .split('.')
            .pop()
        : Date.now().toString(36)
    }`;
    const resource = await writeResource(context, {
      id,
      type: PRIVATE_ENDPOINT_TYPE,
      subscriptionId: params.subscriptionId!,
      group: rg,
      name: params.name!,
      existing,
      input,
      properties: {
        provisioningState: 'Succeeded',
        subnet: { id: `${vnet.id}/subnets/${subnet.name}` },
        privateIPAddress: address,
        connectionId: (existing?.properties.connectionId as string | undefined) ?? connectionName,
        [manual ? 'manualPrivateLinkServiceConnections' : 'privateLinkServiceConnections']: [
          {
            name: String(link?.name ?? params.name),
            properties: { privateLinkServiceId: registry.arm!.resourceId, groupIds: ['registry'] },
          },
        ],
        customDnsConfigs: [{ fqdn: registry.loginServer, ipAddresses: [address] }],
      },
    });
    if (!existing) {
      const connection: PrivateEndpointConnection = {
        id: `${registry.arm!.resourceId}/privateEndpointConnections/${resource.properties.connectionId}`,
        name: String(resource.properties.connectionId),
        type: CONNECTION_TYPE,
        properties: {
          provisioningState: 'Succeeded',
          privateEndpoint: { id: resource.id },
          privateLinkServiceConnectionState: autoApprove
            ? { status: 'Approved', description: 'Auto-Approved', actionsRequired: 'None' }
            : {
                status: 'Pending',
                description: String(linkProperties.requestMessage ?? 'Awaiting approval'),
                actionsRequired: 'None',
              },
        },
      };
      await metadata.updateRegistry(registry.id, (current) => ({
        properties: {
          ...current.properties,
          privateEndpointConnections: [...connectionsOf(current), connection],
        },
      }));
    }
    await changed();
    reply.code(existing ? 200 : 201);
    return resourceToArm(resource);
  }

  router.add(
    'DELETE',
    `${group}/${PRIVATE_ENDPOINT_TYPE}/:name`,
    async ({ caller, params, reply }) => {
      const id = resourceId(
        params.subscriptionId!,
        params.resourceGroup!,
        PRIVATE_ENDPOINT_TYPE,
        params.name!,
      );
      await auth.authorize(caller, `${PRIVATE_ENDPOINT_TYPE}/delete`, id);
      const endpoint = await controlPlane.getResource(id);
      if (!endpoint) {
        reply.code(204);
        return '';
      }
      await removeConnectionsFor(context, endpoint);
      await controlPlane.deleteResource(id);
      await changed();
      reply.code(200);
      return '';
    },
  );

  // The registry side: list, read, approve/reject (PUT), delete.
  /** The registry a connection route names (looked up first), once the caller may `action` on it. */
  async function connectionRegistry(
    params: Record<string, string>,
    apiVersion: string,
    caller: ArmRequestContext['caller'],
    action: string,
  ): Promise<RegistryRecord> {
    checkApiVersion(apiVersion, REGISTRY_API_VERSIONS, 'registries');
    const registry = await findRegistry(
      context,
      params.subscriptionId!,
      params.resourceGroup!,
      params.registry!,
    );
    await auth.authorize(caller, action, registry.arm!.resourceId);
    return registry;
  }
  const connections =
    '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers/Microsoft.ContainerRegistry/registries/:registry/privateEndpointConnections';
  router.add('GET', connections, async ({ caller, params, apiVersion }) => {
    const registry = await connectionRegistry(
      params,
      apiVersion,
      caller,
      `${CONNECTION_TYPE}/read`,
    );
    return { value: connectionsOf(registry) };
  });
  router.add('GET', `${connections}/:name`, async ({ caller, params, apiVersion }) => {
    const registry = await connectionRegistry(
      params,
      apiVersion,
      caller,
      `${CONNECTION_TYPE}/read`,
    );
    const connection = connectionsOf(registry).find(
      (c) => c.name.toLowerCase() === params.name!.toLowerCase(),
    );
    if (!connection)
      throw armErrors.notFound(
        CONNECTION_TYPE,
        `${params.registry}/${params.name}`,
        params.resourceGroup!,
      );
    return connection;
  });
  router.add('PUT', `${connections}/:name`, async ({ caller, params, apiVersion, body }) => {
    const registry = await connectionRegistry(
      params,
      apiVersion,
      caller,
      `${REGISTRY_TYPE}/privateEndpointConnectionsApproval/action`,
    );
    const state =
      isObject(body) &&
      isObject(body.properties) &&
      isObject(body.properties.privateLinkServiceConnectionState)
        ? body.properties.privateLinkServiceConnectionState
        : {};
    const status = STATUSES.find(
      (s) => s.toLowerCase() === String(state.status ?? '').toLowerCase(),
    );
    if (!status || status === 'Disconnected')
      throw new ArmError(
        400,
        'InvalidConnectionState',
        "status must be 'Approved', 'Pending' or 'Rejected'.",
      );
    let found: PrivateEndpointConnection | undefined;
    await metadata.updateRegistry(registry.id, (current) => {
      const list = connectionsOf(current).map((c) => {
        if (c.name.toLowerCase() !== params.name!.toLowerCase()) return c;
        // A rejected connection stays rejected: the endpoint must be recreated.
        if (
          c.properties.privateLinkServiceConnectionState.status === 'Rejected' &&
          status !== 'Rejected'
        ) {
          throw new ArmError(
            400,
            'CannotChangeRejectedConnection',
            'A rejected private endpoint connection cannot be approved; recreate the private endpoint.',
          );
        }
        found = {
          ...c,
          properties: {
            ...c.properties,
            privateLinkServiceConnectionState: {
              status,
              description: typeof state.description === 'string' ? state.description : status,
              actionsRequired: status === 'Rejected' ? 'Recreate' : 'None',
            },
          },
        };
        return found;
      });
      return { properties: { ...current.properties, privateEndpointConnections: list } };
    });
    if (!found)
      throw armErrors.notFound(
        CONNECTION_TYPE,
        `${params.registry}/${params.name}`,
        params.resourceGroup!,
      );
    await changed();
    return found;
  });
  router.add('DELETE', `${connections}/:name`, async ({ caller, params, apiVersion, reply }) => {
    const registry = await connectionRegistry(
      params,
      apiVersion,
      caller,
      `${REGISTRY_TYPE}/privateEndpointConnectionsApproval/action`,
    );
    await metadata.updateRegistry(registry.id, (current) => ({
      properties: {
        ...current.properties,
        privateEndpointConnections: connectionsOf(current).filter(
          (c) => c.name.toLowerCase() !== params.name!.toLowerCase(),
        ),
      },
    }));
    await changed();
    reply.code(200);
    return '';
  });
}

/** Removes the registry-side connections of a private endpoint being deleted. */
async function removeConnectionsFor(
  context: ManagementContext,
  endpoint: ResourceRecord,
): Promise<void> {
  for (const registry of await context.metadata.listRegistries()) {
    const list = connectionsOf(registry);
    if (
      !list.some((c) => c.properties.privateEndpoint.id.toLowerCase() === endpoint.id.toLowerCase())
    )
      continue;
    await context.metadata.updateRegistry(registry.id, (current) => ({
      properties: {
        ...current.properties,
        privateEndpointConnections: connectionsOf(current).filter(
          (c) => c.properties.privateEndpoint.id.toLowerCase() !== endpoint.id.toLowerCase(),
        ),
      },
    }));
  }
}
