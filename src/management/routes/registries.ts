/**
 * @module management/routes/registries
 * `Microsoft.ContainerRegistry/registries`: create, read, update, delete and list, the admin
 * user's credentials, and name availability. Changes are written in one transaction and apply
 * to the data plane's very next request (it reads the registry row every time).
 */
import { generateSecret, hashSecret } from '../../identity/index.js';
import type { RegistryArmEnvelope, RegistryRecord } from '../../metadata/index.js';
import { ArmError, armErrors } from '../arm-errors.js';
import type { ArmRequestContext, ArmRouter } from '../arm-router.js';
import { checkApiVersion, REGISTRY_API_VERSIONS } from '../api-versions.js';
import type { ManagementContext } from '../context.js';
import { applyIdentity } from '../managed-identity.js';
import {
  applyRegistryProperties,
  checkSkuRules,
  defaultRegistryProperties,
  parseSku,
  REGISTRY_NAME,
  REGISTRY_TYPE,
  registryToArm,
  type SkuName,
} from '../registry-resource.js';
import { resourceId } from '../resource-id.js';
import { registriesIn, requireResourceGroup, requireSubscription } from './subscriptions.js';
import { isObject } from '../../core/json.js';

const BASE =
  '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers/Microsoft.ContainerRegistry/registries';

function systemData(who: ArmRequestContext['caller'], created?: Record<string, unknown> | null) {
  const now = new Date().toISOString();
  const by = {
    by: who.principal.appId,
    type: who.principal.kind === 'ManagedIdentity' ? 'ManagedIdentity' : 'Application',
  };
  return {
    createdBy: created?.createdBy ?? by.by,
    createdByType: created?.createdByType ?? by.type,
    createdAt: created?.createdAt ?? now,
    lastModifiedBy: by.by,
    lastModifiedByType: by.type,
    lastModifiedAt: now,
  };
}

export async function findRegistry(
  context: ManagementContext,
  subscriptionId: string,
  resourceGroup: string,
  name: string,
): Promise<RegistryRecord> {
  const registry = await context.metadata.getRegistryByName(name);
  const arm = registry?.arm;
  if (
    !registry ||
    !arm ||
    arm.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase() ||
    arm.resourceGroup.toLowerCase() !== resourceGroup.toLowerCase()
  ) {
    throw armErrors.notFound(REGISTRY_TYPE, name, resourceGroup);
  }
  return registry;
}

/**
 * The registry a registry-scoped route names, after the api-version check and the caller's
 * authorization for `action` at the registry's scope (403 before 404, as ARM answers).
 */
export async function authorizedRegistry(
  context: ManagementContext,
  caller: ArmRequestContext['caller'],
  params: Record<string, string>,
  apiVersion: string,
  action: string,
): Promise<RegistryRecord> {
  checkApiVersion(apiVersion, REGISTRY_API_VERSIONS, 'registries');
  const id = resourceId(params.subscriptionId!, params.resourceGroup!, REGISTRY_TYPE, params.name!);
  await context.auth.authorize(caller, action, id);
  return findRegistry(context, params.subscriptionId!, params.resourceGroup!, params.name!);
}

/** Generates both admin passwords: hashed to verify, sealed so listCredentials can show them. */
async function ensureAdminCredentials(
  context: ManagementContext,
  registry: RegistryRecord,
  regenerate?: 'password' | 'password2',
): Promise<void> {
  const existing = await context.controlPlane.listRegistryCredentials(registry.id);
  for (const name of ['password', 'password2'] as const) {
    if (existing.some((c) => c.name === name) && regenerate !== name) continue;
    const password = generateSecret().replace('~', '+');
    await context.controlPlane.putRegistryCredential({
      registryId: registry.id,
      name,
      hash: await hashSecret(password),
      sealed: context.sealer.seal(password),
      createdAt: new Date().toISOString(),
    });
  }
}

export function registerRegistryRoutes(router: ArmRouter, context: ManagementContext): void {
  const { auth, metadata } = context;
  const action = (verb: string) => `${REGISTRY_TYPE}/${verb}`;

  router.add(
    'GET',
    '/subscriptions/:subscriptionId/providers/Microsoft.ContainerRegistry/registries',
    async ({ caller, params, apiVersion }) => {
      checkApiVersion(apiVersion, REGISTRY_API_VERSIONS, 'registries');
      await requireSubscription(context, params.subscriptionId!);
      const value = [];
      for (const registry of await registriesIn(context, params.subscriptionId!)) {
        if (await auth.isAllowed(caller, action('read'), registry.arm!.resourceId))
          value.push(registryToArm(registry));
      }
      return { value };
    },
  );

  router.add('GET', BASE, async ({ caller, params, apiVersion }) => {
    checkApiVersion(apiVersion, REGISTRY_API_VERSIONS, 'registries');
    await requireResourceGroup(context, params.subscriptionId!, params.resourceGroup!);
    const value = [];
    for (const registry of await registriesIn(
      context,
      params.subscriptionId!,
      params.resourceGroup!,
    )) {
      if (await auth.isAllowed(caller, action('read'), registry.arm!.resourceId))
        value.push(registryToArm(registry));
    }
    return { value };
  });

  router.add('GET', `${BASE}/:name`, async ({ caller, params, apiVersion }) => {
    checkApiVersion(apiVersion, REGISTRY_API_VERSIONS, 'registries');
    const id = resourceId(
      params.subscriptionId!,
      params.resourceGroup!,
      REGISTRY_TYPE,
      params.name!,
    );
    await auth.authorize(caller, action('read'), id);
    return registryToArm(
      await findRegistry(context, params.subscriptionId!, params.resourceGroup!, params.name!),
    );
  });

  router.add('PUT', `${BASE}/:name`, async ({ caller, params, apiVersion, body, reply }) => {
    checkApiVersion(apiVersion, REGISTRY_API_VERSIONS, 'registries');
    const subscriptionId = params.subscriptionId!;
    const resourceGroup = params.resourceGroup!;
    const name = params.name!;
    const id = resourceId(subscriptionId, resourceGroup, REGISTRY_TYPE, name);
    await auth.authorize(caller, action('write'), id);
    const group = await requireResourceGroup(context, subscriptionId, resourceGroup);
    if (!isObject(body))
      throw armErrors.invalidRequest(
        'The request content was invalid and could not be deserialized.',
      );
    const now = new Date().toISOString();
    const existing = await metadata.getRegistryByName(name);
    if (existing) {
      const same = existing.arm?.resourceId.toLowerCase() === id.toLowerCase();
      if (!same) {
        throw new ArmError(
          409,
          'AlreadyInUse',
          `The registry DNS name ${existing.loginServer} is already in use. You can check if the name is already claimed using following API: https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability`,
        );
      }
      reply.code(200);
      return registryToArm(await updateRegistry(context, existing, body, caller, true));
    }
    if (!REGISTRY_NAME.test(name)) {
      throw new ArmError(
        400,
        'InvalidRegistryName',
        `Registry name '${name}' is invalid. Registry names may contain only alpha numeric characters and must be between 5 and 50 characters.`,
      );
    }
    const sku = parseSku(body.sku, true)!;
    const properties = applyRegistryProperties(
      defaultRegistryProperties(sku, now),
      body.properties,
      now,
    );
    checkSkuRules(properties, sku);
    const location =
      typeof body.location === 'string' && body.location
        ? body.location
        : (group.location ?? context.defaultLocation);
    const arm: RegistryArmEnvelope = {
      resourceId: id,
      subscriptionId: subscriptionId.toLowerCase(),
      resourceGroup: group.name,
      location,
      sku: { name: sku, tier: sku },
      tags: isObject(body.tags) ? (body.tags as Record<string, string>) : {},
      identity: null,
      systemData: systemData(caller),
    };
    let registry = await metadata.createRegistry({
      name: name.toLowerCase(),
      loginServer: `${name.toLowerCase()}.${context.loginServerSuffix}`,
      properties,
      arm,
    });
    if (body.identity !== undefined) {
      const identity = await applyIdentity(context, id, null, body.identity);
      registry = (await metadata.updateRegistry(registry.id, () => ({ arm: { identity } })))!;
    }
    if (properties.adminUserEnabled === true) await ensureAdminCredentials(context, registry);
    reply.code(201);
    return registryToArm(registry);
  });

  router.add('PATCH', `${BASE}/:name`, async ({ caller, params, apiVersion, body }) => {
    const registry = await authorizedRegistry(context, caller, params, apiVersion, action('write'));
    if (!isObject(body))
      throw armErrors.invalidRequest(
        'The request content was invalid and could not be deserialized.',
      );
    return registryToArm(await updateRegistry(context, registry, body, caller, false));
  });

  router.add('DELETE', `${BASE}/:name`, async ({ caller, params, apiVersion, reply }) => {
    checkApiVersion(apiVersion, REGISTRY_API_VERSIONS, 'registries');
    const id = resourceId(
      params.subscriptionId!,
      params.resourceGroup!,
      REGISTRY_TYPE,
      params.name!,
    );
    await auth.authorize(caller, action('delete'), id);
    const registry = await metadata.getRegistryByName(params.name!);
    if (!registry || registry.arm?.resourceId.toLowerCase() !== id.toLowerCase()) {
      reply.code(204);
      return '';
    }
    await context.identity.removeIdentityOf(registry.arm.resourceId);
    await metadata.deleteRegistry(registry.id);
    // Private endpoints to it stop listening before the answer (other replicas follow shortly).
    await context.onNetworkChanged?.();
    reply.code(200);
    return '';
  });

  router.add('POST', `${BASE}/:name/listCredentials`, async ({ caller, params, apiVersion }) => {
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      action('listCredentials/action'),
    );
    return adminCredentials(context, registry);
  });

  router.add(
    'POST',
    `${BASE}/:name/regenerateCredential`,
    async ({ caller, params, apiVersion, body }) => {
      const registry = await authorizedRegistry(
        context,
        caller,
        params,
        apiVersion,
        action('regenerateCredential/action'),
      );
      const which = isObject(body) ? body.name : undefined;
      if (which !== 'password' && which !== 'password2') {
        throw armErrors.invalidRequest("The 'name' must be 'password' or 'password2'.");
      }
      await ensureAdminCredentials(context, registry, which);
      return adminCredentials(context, registry);
    },
  );

  router.add(
    'POST',
    '/subscriptions/:subscriptionId/providers/Microsoft.ContainerRegistry/checkNameAvailability',
    async ({ params, body }) => {
      await requireSubscription(context, params.subscriptionId!);
      const name = isObject(body) && typeof body.name === 'string' ? body.name : '';
      if (!REGISTRY_NAME.test(name)) {
        return {
          nameAvailable: false,
          reason: 'Invalid',
          message: 'The specified resource name is disallowed',
        };
      }
      if (await metadata.getRegistryByName(name)) {
        return {
          nameAvailable: false,
          reason: 'AlreadyExists',
          message: 'The registry myregistry is already in use.'.replace('myregistry', name),
        };
      }
      return { nameAvailable: true };
    },
  );
}

async function adminCredentials(context: ManagementContext, registry: RegistryRecord) {
  if (registry.properties.adminUserEnabled !== true) {
    throw new ArmError(
      400,
      'AdminUserDisabled',
      `The admin user is disabled for registry '${registry.name}'. Enable it with 'breakwater acr update -n ${registry.name} --admin-enabled true'.`,
    );
  }
  await ensureAdminCredentials(context, registry);
  const credentials = await context.controlPlane.listRegistryCredentials(registry.id);
  return {
    username: registry.arm?.resourceId.split('/').at(-1) ?? registry.name,
    passwords: credentials.map((c) => ({ name: c.name, value: context.sealer.unseal(c.sealed) })),
  };
}

async function updateRegistry(
  context: ManagementContext,
  registry: RegistryRecord,
  body: Record<string, unknown>,
  caller: ArmRequestContext['caller'],
  replace: boolean,
): Promise<RegistryRecord> {
  const now = new Date().toISOString();
  const identity =
    body.identity !== undefined
      ? await applyIdentity(
          context,
          registry.arm!.resourceId,
          registry.arm!.identity,
          body.identity,
        )
      : undefined;
  const updated = await context.metadata.updateRegistry(registry.id, (current) => {
    const sku: SkuName = parseSku(body.sku, false) ?? (current.arm!.sku.name as SkuName);
    const properties = applyRegistryProperties(current.properties, body.properties, now);
    if (
      isObject(body.properties) &&
      body.properties.zoneRedundancy !== undefined &&
      body.properties.zoneRedundancy !== current.properties.zoneRedundancy
    ) {
      throw new ArmError(
        400,
        'ZoneRedundancyCannotBeUpdated',
        'Zone-redundancy cannot be updated.',
      );
    }
    // Basic registries have no network rule set; a move to Standard or Premium gets the default one.
    if (sku !== 'Basic' && properties.networkRuleSet === null)
      properties.networkRuleSet = { defaultAction: 'Allow', ipRules: [] };
    checkSkuRules(properties, sku);
    return {
      properties,
      arm: {
        sku: { name: sku, tier: sku },
        ...(isObject(body.tags)
          ? { tags: body.tags as Record<string, string> }
          : replace
            ? { tags: {} }
            : {}),
        ...(typeof body.location === 'string' && replace
          ? { location: current.arm!.location }
          : {}),
        ...(identity !== undefined ? { identity } : {}),
        systemData: systemData(caller, current.arm?.systemData),
      },
    };
  });
  if (!updated) throw armErrors.notFound(REGISTRY_TYPE, registry.name, registry.arm!.resourceGroup);
  if (updated.properties.adminUserEnabled === true) await ensureAdminCredentials(context, updated);
  return updated;
}
