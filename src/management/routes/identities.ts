/**
 * @module management/routes/identities
 * User-assigned managed identities (`Microsoft.ManagedIdentity/userAssignedIdentities`), and the
 * resource records of the types that host managed identities before their own services exist:
 * container groups, ML workspaces and web apps. Each can hold a system- and/or user-assigned
 * identity; their behaviour (deploying, running) arrives with their own services. Registry tasks
 * are in tasks.ts.
 */
import { randomUUID } from 'node:crypto';
import { ArmError } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { applyIdentity, USER_ASSIGNED_IDENTITY_TYPE } from '../managed-identity.js';
import { resourceId } from '../resource-id.js';
import { registerResourceDelete, registerResourceReads, writeResource } from './resource-reads.js';
import { requireResourceGroup, resourceToArm } from './subscriptions.js';
import { isObject } from '../../core/json.js';

/** Resource types that host managed identities, with the provider path of each. */
export const IDENTITY_HOST_TYPES = [
  'Microsoft.ContainerInstance/containerGroups',
  'Microsoft.MachineLearningServices/workspaces',
  'Microsoft.Web/sites',
] as const;

const RESOURCE_NAME = /^[a-zA-Z0-9][-\w.]{0,126}[a-zA-Z0-9_]$|^[a-zA-Z0-9]$/;

export function registerIdentityRoutes(router: ArmRouter, context: ManagementContext): void {
  const { auth, controlPlane } = context;
  const group = '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers';

  // User-assigned identities: the resource and its principal are made together.
  const uami = `${group}/${USER_ASSIGNED_IDENTITY_TYPE}`;
  registerResourceReads(router, context, USER_ASSIGNED_IDENTITY_TYPE);
  router.add('PUT', `${uami}/:name`, async ({ caller, params, body, reply }) => {
    const id = resourceId(
      params.subscriptionId!,
      params.resourceGroup!,
      USER_ASSIGNED_IDENTITY_TYPE,
      params.name!,
    );
    await auth.authorize(caller, `${USER_ASSIGNED_IDENTITY_TYPE}/write`, id);
    const rg = await requireResourceGroup(context, params.subscriptionId!, params.resourceGroup!);
    if (!RESOURCE_NAME.test(params.name!))
      throw new ArmError(
        400,
        'InvalidResourceName',
        `The resource name '${params.name}' is invalid.`,
      );
    const existing = await controlPlane.getResource(id);
    const input = isObject(body) ? body : {};
    let properties = existing?.properties;
    if (!properties) {
      const subscription = (await controlPlane.getSubscription(params.subscriptionId!))!;
      const principal = await controlPlane.createPrincipal({
        objectId: randomUUID(),
        tenantId: subscription.tenantId,
        appId: randomUUID(),
        kind: 'ManagedIdentity',
        displayName: params.name!,
        resourceId: id,
      });
      properties = {
        tenantId: principal.tenantId,
        principalId: principal.objectId,
        clientId: principal.appId,
      };
    }
    const resource = await writeResource(context, {
      id,
      type: USER_ASSIGNED_IDENTITY_TYPE,
      subscriptionId: params.subscriptionId!,
      group: rg,
      name: params.name!,
      existing,
      input,
      properties,
    });
    reply.code(existing ? 200 : 201);
    return resourceToArm(resource);
  });
  registerResourceDelete(router, context, USER_ASSIGNED_IDENTITY_TYPE);

  // Identity-hosting resources, stored with their identity (and properties as given).
  for (const type of IDENTITY_HOST_TYPES) {
    const base = `${group}/${type}`;
    registerResourceReads(router, context, type);
    router.add('PUT', `${base}/:name`, async ({ caller, params, body, reply }) => {
      const id = resourceId(params.subscriptionId!, params.resourceGroup!, type, params.name!);
      await auth.authorize(caller, `${type}/write`, id);
      const rg = await requireResourceGroup(context, params.subscriptionId!, params.resourceGroup!);
      if (!RESOURCE_NAME.test(params.name!))
        throw new ArmError(
          400,
          'InvalidResourceName',
          `The resource name '${params.name}' is invalid.`,
        );
      const existing = await controlPlane.getResource(id);
      const input = isObject(body) ? body : {};
      const identity =
        input.identity !== undefined
          ? await applyIdentity(context, id, existing?.identity ?? null, input.identity)
          : (existing?.identity ?? null);
      const resource = await writeResource(context, {
        id,
        type,
        subscriptionId: params.subscriptionId!,
        group: rg,
        name: params.name!,
        existing,
        input,
        identity,
        properties: {
          ...(isObject(input.properties) ? input.properties : {}),
          provisioningState: 'Succeeded',
        },
      });
      reply.code(existing ? 200 : 201);
      return resourceToArm(resource);
    });
    registerResourceDelete(router, context, type);
  }
}
