/**
 * @module management/routes/subscriptions
 * Subscriptions, tenants, resource groups and resource listing: the ARM skeleton every tool walks
 * first (`az login` lists subscriptions; `az acr ...` lists resources by type).
 */
import type { RegistryRecord, ResourceRecord, SubscriptionRecord } from '../../metadata/index.js';
import type { AuthenticatedPrincipal } from '../../identity/index.js';
import { ArmError, armErrors } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { REGISTRY_TYPE, registryToArm } from '../registry-resource.js';
import { resourceGroupId } from '../resource-id.js';

export const RESOURCE_GROUP_TYPE = 'Microsoft.Resources/resourceGroups';

function subscriptionToArm(subscription: SubscriptionRecord) {
  return {
    id: `/subscriptions/${subscription.id}`,
    authorizationSource: 'RoleBased',
    managedByTenants: [],
    subscriptionId: subscription.id,
    tenantId: subscription.tenantId,
    displayName: subscription.displayName,
    state: subscription.state,
    subscriptionPolicies: {
      locationPlacementId: 'Public_2014-09-01',
      quotaId: 'PayAsYouGo_2014-09-01',
      spendingLimit: 'Off',
    },
  };
}

export function resourceToArm(resource: ResourceRecord): Record<string, unknown> {
  return {
    id: resource.id,
    name: resource.name,
    type: resource.type,
    ...(resource.location ? { location: resource.location } : {}),
    ...(resource.tags ? { tags: resource.tags } : {}),
    ...(resource.sku ? { sku: resource.sku } : {}),
    ...(resource.identity ? { identity: resource.identity } : {}),
    ...(resource.systemData ? { systemData: resource.systemData } : {}),
    properties: resource.properties,
  };
}

export async function requireSubscription(
  context: ManagementContext,
  id: string,
): Promise<SubscriptionRecord> {
  const subscription = await context.controlPlane.getSubscription(id);
  if (!subscription) throw armErrors.subscriptionNotFound(id);
  return subscription;
}

export async function requireResourceGroup(
  context: ManagementContext,
  subscriptionId: string,
  resourceGroup: string,
): Promise<ResourceRecord> {
  await requireSubscription(context, subscriptionId);
  const group = await context.controlPlane.getResource(
    resourceGroupId(subscriptionId, resourceGroup),
  );
  if (!group) throw armErrors.resourceGroupNotFound(resourceGroup);
  return group;
}

/** Registries visible in a subscription (optionally one group), as ARM resources. */
export async function registriesIn(
  context: ManagementContext,
  subscriptionId: string,
  resourceGroup?: string,
): Promise<RegistryRecord[]> {
  const all = await context.metadata.listRegistries();
  return all.filter(
    (r) =>
      r.arm?.subscriptionId.toLowerCase() === subscriptionId.toLowerCase() &&
      (resourceGroup === undefined ||
        r.arm.resourceGroup.toLowerCase() === resourceGroup.toLowerCase()),
  );
}

/** Parses the one `$filter` form tools send for resource listing: `resourceType eq '<type>'`. */
function typeFilter(filter: string | null): string | undefined {
  if (!filter) return undefined;
  const match = /^\s*resourceType\s+eq\s+'([^']+)'\s*$/i.exec(filter);
  if (!match)
    throw new ArmError(
      400,
      'InvalidFilterInQueryString',
      `Invalid $filter '${filter}' specified in the query string.`,
    );
  return match[1];
}

export function registerSubscriptionRoutes(router: ArmRouter, context: ManagementContext): void {
  const { controlPlane, auth } = context;

  router.add('GET', '/subscriptions', async ({ caller }) => {
    const who = caller;
    const visible: unknown[] = [];
    for (const subscription of await controlPlane.listSubscriptions()) {
      if (subscription.tenantId !== who.principal.tenantId) continue;
      const scope = `/subscriptions/${subscription.id}`;
      if (
        (await controlPlane.listRoleAssignmentsUnder(scope)).some(
          (a) => a.principalId === who.principal.objectId,
        )
      ) {
        visible.push(subscriptionToArm(subscription));
      }
    }
    return { value: visible, count: { type: 'Total', value: visible.length } };
  });

  router.add('GET', '/tenants', async ({ caller }) => {
    const who = caller;
    const tenant = await controlPlane.getTenant(who.principal.tenantId);
    return {
      value: tenant
        ? [
            {
              id: `/tenants/${tenant.id}`,
              tenantId: tenant.id,
              displayName: tenant.displayName,
              tenantCategory: 'Home',
            },
          ]
        : [],
    };
  });

  router.add('GET', '/subscriptions/:subscriptionId', async ({ caller, params }) => {
    const who = caller;
    const subscription = await requireSubscription(context, params.subscriptionId!);
    await auth.authorize(
      who,
      'Microsoft.Resources/subscriptions/read',
      `/subscriptions/${subscription.id}`,
    );
    return subscriptionToArm(subscription);
  });

  router.add('GET', '/subscriptions/:subscriptionId/resourceGroups', async ({ caller, params }) => {
    const who = caller;
    const subscription = await requireSubscription(context, params.subscriptionId!);
    const groups = await controlPlane.listResources({
      subscriptionId: subscription.id,
      type: RESOURCE_GROUP_TYPE,
    });
    const visible = [];
    for (const group of groups) {
      if (
        await auth.isAllowed(who, 'Microsoft.Resources/subscriptions/resourceGroups/read', group.id)
      ) {
        visible.push(resourceToArm(group));
      }
    }
    return { value: visible };
  });

  router.add(
    'GET',
    '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup',
    async ({ caller, params }) => {
      const who = caller;
      const group = await requireResourceGroup(
        context,
        params.subscriptionId!,
        params.resourceGroup!,
      );
      await auth.authorize(who, 'Microsoft.Resources/subscriptions/resourceGroups/read', group.id);
      return resourceToArm(group);
    },
  );

  router.add(
    'HEAD',
    '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup',
    async ({ caller, params, reply }) => {
      const who = caller;
      await requireSubscription(context, params.subscriptionId!);
      const id = resourceGroupId(params.subscriptionId!, params.resourceGroup!);
      await auth.authorize(who, 'Microsoft.Resources/subscriptions/resourceGroups/read', id);
      reply.code((await controlPlane.getResource(id)) ? 204 : 404);
      return '';
    },
  );

  router.add(
    'PUT',
    '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup',
    async ({ caller, params, body, reply }) => {
      const who = caller;
      const subscription = await requireSubscription(context, params.subscriptionId!);
      const name = params.resourceGroup!;
      if (!/^[-\w._()]{1,90}$/.test(name) || name.endsWith('.')) {
        throw new ArmError(
          400,
          'InvalidResourceGroup',
          `The provided resource group name '${name}' has these invalid characters or length.`,
        );
      }
      const id = resourceGroupId(subscription.id, name);
      await auth.authorize(who, 'Microsoft.Resources/subscriptions/resourceGroups/write', id);
      const input = (body ?? {}) as { location?: unknown; tags?: unknown };
      if (typeof input.location !== 'string' || input.location === '') {
        throw new ArmError(
          400,
          'LocationRequired',
          'The location property is required for this definition.',
        );
      }
      const existing = await controlPlane.getResource(id);
      const group = await controlPlane.putResource({
        id: existing?.id ?? id,
        type: RESOURCE_GROUP_TYPE,
        subscriptionId: subscription.id,
        resourceGroup: name,
        name: existing?.name ?? name,
        location: input.location,
        tags: (input.tags as Record<string, string>) ?? existing?.tags ?? null,
        sku: null,
        identity: null,
        properties: { provisioningState: 'Succeeded' },
        systemData: null,
      });
      reply.code(existing ? 200 : 201);
      return resourceToArm(group);
    },
  );

  router.add(
    'DELETE',
    '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup',
    async ({ caller, params, reply }) => {
      const who = caller;
      const group = await requireResourceGroup(
        context,
        params.subscriptionId!,
        params.resourceGroup!,
      );
      await auth.authorize(
        who,
        'Microsoft.Resources/subscriptions/resourceGroups/delete',
        group.id,
      );
      // Deleting a group deletes what it holds, registries included.
      for (const registry of await registriesIn(
        context,
        params.subscriptionId!,
        params.resourceGroup!,
      )) {
        await context.identity.removeIdentityOf(registry.arm!.resourceId);
        await context.metadata.deleteRegistry(registry.id);
      }
      for (const resource of await controlPlane.listResources({
        subscriptionId: params.subscriptionId!,
        resourceGroup: params.resourceGroup!,
      })) {
        await context.identity.removeIdentityOf(resource.id);
        await controlPlane.deleteResource(resource.id);
      }
      await controlPlane.deleteResource(group.id);
      // Its private endpoints, and those of other groups' networks to its registries, stop now.
      await context.onNetworkChanged?.();
      reply.code(200);
      return '';
    },
  );

  const listResources = async (
    subscriptionId: string,
    resourceGroup: string | undefined,
    filter: string | null,
    who: AuthenticatedPrincipal,
  ) => {
    await requireSubscription(context, subscriptionId);
    if (resourceGroup !== undefined)
      await requireResourceGroup(context, subscriptionId, resourceGroup);
    const type = typeFilter(filter);
    const results: Record<string, unknown>[] = [];
    if (!type || type.toLowerCase() === REGISTRY_TYPE.toLowerCase()) {
      for (const registry of await registriesIn(context, subscriptionId, resourceGroup)) {
        const arm = registryToArm(registry);
        results.push({
          id: arm.id,
          name: arm.name,
          type: arm.type,
          sku: arm.sku,
          location: arm.location,
          tags: arm.tags,
          ...(arm.identity ? { identity: arm.identity } : {}),
        });
      }
    }
    for (const resource of await controlPlane.listResources({
      subscriptionId,
      ...(resourceGroup ? { resourceGroup } : {}),
      ...(type ? { type } : {}),
    })) {
      if (resource.type === RESOURCE_GROUP_TYPE) continue;
      results.push({
        id: resource.id,
        name: resource.name,
        type: resource.type,
        location: resource.location,
        tags: resource.tags ?? {},
        // ARM's generic list shows a resource's managed identity (the portal's Identity blade).
        ...(resource.identity ? { identity: resource.identity } : {}),
      });
    }
    const visible = [];
    for (const result of results) {
      if (await auth.isAllowed(who, `${String(result.type)}/read`, String(result.id)))
        visible.push(result);
    }
    return { value: visible };
  };

  router.add('GET', '/subscriptions/:subscriptionId/resources', async ({ caller, params, query }) =>
    listResources(params.subscriptionId!, undefined, query.get('$filter'), caller),
  );
  router.add(
    'GET',
    '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/resources',
    async ({ caller, params, query }) =>
      listResources(params.subscriptionId!, params.resourceGroup!, query.get('$filter'), caller),
  );
}
