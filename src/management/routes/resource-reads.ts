/**
 * @module management/routes/resource-reads
 * The list, get and delete routes that every simple resource type in the generic resource store
 * shares (identities, identity hosts, virtual networks, private endpoints): one definition, so
 * each type differs only in how it is written.
 */
import { armErrors } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { resourceId } from '../resource-id.js';
import { requireResourceGroup, resourceToArm } from './subscriptions.js';

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
