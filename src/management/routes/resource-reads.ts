/**
 * @module management/routes/resource-reads
 * What every simple resource type in the generic resource store shares (identities, identity
 * hosts, tasks, virtual networks, private endpoints): the list, get and delete routes, and the
 * envelope of a PUT (id and name kept from creation, location, tags), so each type differs only
 * in its properties.
 */
import type { ResourceRecord } from '../../metadata/index.js';
import { armErrors } from '../arm-errors.js';
import type { ArmRequestContext, ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { resourceId } from '../resource-id.js';
import { requireResourceGroup, resourceToArm } from './subscriptions.js';
import { isObject } from '../../core/json.js';

const GROUP = '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers';

/** `GET .../{type}` (filtered to what the caller may read) and `GET .../{type}/{name}`. */
export function registerResourceReads(
  router: ArmRouter,
  context: ManagementContext,
  type: string,
): void {
  const { auth, controlPlane } = context;
  router.add('GET', `${GROUP}/${type}`, async ({ caller, params }) => {
    await requireResourceGroup(context, params.subscriptionId!, params.resourceGroup!);
    const all = await controlPlane.listResources({
      subscriptionId: params.subscriptionId!,
      resourceGroup: params.resourceGroup!,
      type,
    });
    const value = [];
    for (const resource of all) {
      if (await auth.isAllowed(caller, `${type}/read`, resource.id))
        value.push(resourceToArm(resource));
    }
    return { value };
  });
  router.add('GET', `${GROUP}/${type}/:name`, async ({ caller, params }) => {
    const id = resourceId(params.subscriptionId!, params.resourceGroup!, type, params.name!);
    await auth.authorize(caller, `${type}/read`, id);
    const resource = await controlPlane.getResource(id);
    if (!resource) throw armErrors.notFound(type, params.name!, params.resourceGroup!);
    return resourceToArm(resource);
  });
}

/**
 * `DELETE .../{type}/{name}`: removes the resource and any system-assigned identity it had
 * (so tokens that identity was issued stop working at once). `before` may refuse the delete.
 */
export function registerResourceDelete(
  router: ArmRouter,
  context: ManagementContext,
  type: string,
  before?: (id: string) => Promise<void>,
): void {
  const { auth, controlPlane } = context;
  router.add('DELETE', `${GROUP}/${type}/:name`, async ({ caller, params, reply }) => {
    const id = resourceId(params.subscriptionId!, params.resourceGroup!, type, params.name!);
    await auth.authorize(caller, `${type}/delete`, id);
    await before?.(id);
    await context.identity.removeIdentityOf(id);
    reply.code((await controlPlane.deleteResource(id)) ? 200 : 204);
    return '';
  });
}

export interface ResourcePut {
  id: string;
  /** The resource group record (its name and location). */
  group: ResourceRecord;
  /** What is stored under the id already, if anything. */
  existing: ResourceRecord | undefined;
  /** The PUT body, `{}` when it is not an object. */
  input: Record<string, unknown>;
}

/**
 * What every PUT of a resource in the generic store does first, in ARM's order: the caller must
 * be allowed to write it, its resource group must exist, then `checkName` (which throws the
 * type's own error for a bad name), then the stored resource is read.
 */
export async function beginResourcePut(
  context: ManagementContext,
  { caller, params, body }: Pick<ArmRequestContext, 'caller' | 'params' | 'body'>,
  type: string,
  checkName?: (name: string) => void,
): Promise<ResourcePut> {
  const id = resourceId(params.subscriptionId!, params.resourceGroup!, type, params.name!);
  await context.auth.authorize(caller, `${type}/write`, id);
  const group = await requireResourceGroup(context, params.subscriptionId!, params.resourceGroup!);
  checkName?.(params.name!);
  const existing = await context.controlPlane.getResource(id);
  return { id, group, existing, input: isObject(body) ? body : {} };
}

export interface ResourceWrite {
  id: string;
  type: string;
  subscriptionId: string;
  /** The resource group record (its name and location). */
  group: { name: string; location: string | null };
  name: string;
  existing: ResourceRecord | undefined;
  /** The PUT body: `location`, `tags` and `sku` are taken from it. */
  input: Record<string, unknown>;
  properties: Record<string, unknown>;
  identity?: Record<string, unknown> | null;
  /** Resources whose location follows their parent (tasks follow their registry). */
  location?: string;
}

/** Writes a resource with the envelope ARM gives it: creation's id and name win over casing. */
export function writeResource(
  context: ManagementContext,
  write: ResourceWrite,
): Promise<ResourceRecord> {
  const { input, existing } = write;
  return context.controlPlane.putResource({
    id: existing?.id ?? write.id,
    type: write.type,
    subscriptionId: write.subscriptionId,
    resourceGroup: write.group.name,
    name: existing?.name ?? write.name,
    location:
      write.location ??
      (typeof input.location === 'string'
        ? input.location
        : (write.group.location ?? context.defaultLocation)),
    tags: isObject(input.tags) ? (input.tags as Record<string, string>) : (existing?.tags ?? {}),
    sku: isObject(input.sku) ? input.sku : (existing?.sku ?? null),
    identity: write.identity ?? null,
    properties: write.properties,
    systemData: null,
  });
}
