/**
 * @module management/routes/identities
 * User-assigned managed identities (`Microsoft.ManagedIdentity/userAssignedIdentities`), and the
 * resource records of the types that host managed identities before their own services exist:
 * web apps (never a trusted service: they only pull their container image). Each can hold a
 * system- and/or user-assigned identity. Container groups and ML workspaces have their own
 * modules; registry tasks are in tasks.ts.
 */
import { randomUUID } from 'node:crypto';
import { ArmError } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { identityAfterWrite, USER_ASSIGNED_IDENTITY_TYPE } from '../managed-identity.js';
import {
  beginResourcePut,
  registerResourceDelete,
  registerResourceReads,
  writeResource,
} from './resource-reads.js';
import { resourceToArm } from './subscriptions.js';
import { isObject } from '../../core/json.js';
import type { ResourceRecord } from '../../metadata/index.js';
import { ImagePullError } from '../../services/index.js';

/** Resource types that host managed identities, with the provider path of each. */
export const IDENTITY_HOST_TYPES = ['Microsoft.Web/sites'] as const;

const RESOURCE_NAME = /^[a-zA-Z0-9][-\w.]{0,126}[a-zA-Z0-9_]$|^[a-zA-Z0-9]$/;

function checkResourceName(name: string): void {
  if (!RESOURCE_NAME.test(name)) {
    throw new ArmError(400, 'InvalidResourceName', `The resource name '${name}' is invalid.`);
  }
}

export function registerIdentityRoutes(router: ArmRouter, context: ManagementContext): void {
  const { controlPlane } = context;
  const group = '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers';

  // User-assigned identities: the resource and its principal are made together.
  const uami = `${group}/${USER_ASSIGNED_IDENTITY_TYPE}`;
  registerResourceReads(router, context, USER_ASSIGNED_IDENTITY_TYPE);
  router.add('PUT', `${uami}/:name`, async (request) => {
    const { params, reply } = request;
    const {
      id,
      group: rg,
      existing,
      input,
    } = await beginResourcePut(context, request, USER_ASSIGNED_IDENTITY_TYPE, checkResourceName);
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
    router.add('PUT', `${base}/:name`, async (request) => {
      const { params, reply } = request;
      const {
        id,
        group: rg,
        existing,
        input,
      } = await beginResourcePut(context, request, type, checkResourceName);
      const identity = await identityAfterWrite(context, id, existing?.identity, input.identity);
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
      return resourceToArm(await pullSiteContainer(context, resource));
    });
    registerResourceDelete(router, context, type);
  }
}

/**
 * A web app running a container (`siteConfig.linuxFxVersion` `DOCKER|<image>`) with
 * `acrUseManagedIdentityCreds` pulls its image with its managed identity (`acrUserManagedIdentityID`
 * names a user-assigned one), as App Service does, through the data endpoint. The outcome is
 * recorded in `properties.containerStatus` (Pulled, or ImagePullFailure with the registry's
 * answer). Web apps are not trusted services: a network-restricted registry refuses them.
 */
async function pullSiteContainer(
  context: ManagementContext,
  site: ResourceRecord,
): Promise<ResourceRecord> {
  if (site.type.toLowerCase() !== 'microsoft.web/sites') return site;
  const config = isObject(site.properties.siteConfig) ? site.properties.siteConfig : {};
  const fx = String(config.linuxFxVersion ?? '');
  if (!/^docker\|/i.test(fx) || config.acrUseManagedIdentityCreds !== true) return site;
  const image = fx.slice('DOCKER|'.length);
  const identity =
    typeof config.acrUserManagedIdentityID === 'string' && config.acrUserManagedIdentityID
      ? config.acrUserManagedIdentityID
      : 'system';
  let containerStatus: Record<string, unknown>;
  try {
    await context.images.puller.resolve(
      image,
      context.images.identityCredential(site.id, identity),
    );
    containerStatus = { image, state: 'Pulled', message: `Successfully pulled image "${image}"` };
  } catch (error) {
    // A missing identity fails the pull as a registry refusal does: the site cannot start.
    const why =
      error instanceof ImagePullError
        ? error.registryError.describe()
        : error instanceof Error
          ? error.message
          : String(error);
    containerStatus = {
      image,
      state: 'ImagePullFailure',
      message: `Failed to pull image "${image}": ${why}`,
    };
  }
  return context.controlPlane.putResource({
    ...site,
    properties: { ...site.properties, containerStatus },
  });
}
