/**
 * @module management/routes/tokens
 * ACR's non-Entra repository tokens: `registries/scopeMaps` (repository permissions, plus the
 * built-in `_repositories_*` maps) and `registries/tokens` (username = token name, two
 * passwords), with `generateCredentials`. Password values are shown once, when generated; only
 * salted hashes are stored.
 */
import { generateSecret, hashSecret } from '../../identity/index.js';
import type { ResourceRecord } from '../../metadata/index.js';
import { parseScopeMapAction, ScopeMapError, SYSTEM_SCOPE_MAPS } from '../../rbac/index.js';
import { ArmError, armErrors } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import { checkApiVersion, REGISTRY_API_VERSIONS } from '../api-versions.js';
import type { ManagementContext } from '../context.js';
import { REGISTRY_TYPE } from '../registry-resource.js';
import { resourceId } from '../resource-id.js';
import { findRegistry } from './registries.js';
import { resourceToArm } from './subscriptions.js';
import { isObject } from '../../core/json.js';

export const SCOPE_MAP_TYPE = `${REGISTRY_TYPE}/scopeMaps`;
export const TOKEN_TYPE = `${REGISTRY_TYPE}/tokens`;
const CHILD_NAME = /^[a-zA-Z0-9-_]{5,50}$/;
const NO_EXPIRY = '9999-12-31T23:59:59.999999+00:00';

export interface StoredPassword {
  name: 'password1' | 'password2';
  creationTime: string;
  expiry: string | null;
  hash: string;
}

/** A token as ARM shows it: password hashes never leave the server. */
export function tokenToArm(token: ResourceRecord): Record<string, unknown> {
  const arm = resourceToArm(token);
  const properties = { ...(arm.properties as Record<string, unknown>) };
  const credentials =
    (properties.credentials as { passwords?: StoredPassword[] } | undefined) ?? {};
  properties.credentials = {
    certificates: [],
    passwords: (credentials.passwords ?? []).map(({ name, creationTime, expiry }) => ({
      name,
      creationTime,
      expiry,
    })),
  };
  return { ...arm, properties };
}

function systemScopeMap(registryId: string, name: string) {
  const map = SYSTEM_SCOPE_MAPS[name]!;
  return {
    id: `${registryId}/scopeMaps/${name}`,
    name,
    type: SCOPE_MAP_TYPE,
    properties: {
      description: map.description,
      type: 'SystemDefined',
      creationDate: '2020-01-01T00:00:00Z',
      provisioningState: 'Succeeded',
      actions: map.actions,
    },
  };
}

/** The actions of a scope map by id (user-defined or built-in), or undefined. */
export async function scopeMapActions(
  context: ManagementContext,
  scopeMapId: string,
): Promise<string[] | undefined> {
  const name = scopeMapId.split('/').at(-1) ?? '';
  if (SYSTEM_SCOPE_MAPS[name]) return SYSTEM_SCOPE_MAPS[name].actions;
  const map = await context.controlPlane.getResource(scopeMapId);
  return map ? (map.properties.actions as string[]) : undefined;
}

export function registerTokenRoutes(router: ArmRouter, context: ManagementContext): void {
  const { auth, controlPlane } = context;
  const base =
    '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers/Microsoft.ContainerRegistry/registries/:registry';

  async function registryOf(params: Record<string, string>, apiVersion: string) {
    checkApiVersion(apiVersion, REGISTRY_API_VERSIONS, 'registries');
    return findRegistry(context, params.subscriptionId!, params.resourceGroup!, params.registry!);
  }
  const childId = (params: Record<string, string>, type: string) =>
    resourceId(
      params.subscriptionId!,
      params.resourceGroup!,
      type,
      `${params.registry}/${params.name}`,
    );

  // Scope maps
  router.add('GET', `${base}/scopeMaps`, async ({ caller, params, apiVersion }) => {
    const registry = await registryOf(params, apiVersion);
    await auth.authorize(caller, `${SCOPE_MAP_TYPE}/read`, registry.arm!.resourceId);
    const own = await controlPlane.listResources({
      subscriptionId: params.subscriptionId!,
      resourceGroup: params.resourceGroup!,
      type: SCOPE_MAP_TYPE,
    });
    const prefix = `${registry.arm!.resourceId.toLowerCase()}/`;
    return {
      value: [
        ...Object.keys(SYSTEM_SCOPE_MAPS).map((name) =>
          systemScopeMap(registry.arm!.resourceId, name),
        ),
        ...own.filter((m) => m.id.toLowerCase().startsWith(prefix)).map(resourceToArm),
      ],
    };
  });
  router.add('GET', `${base}/scopeMaps/:name`, async ({ caller, params, apiVersion }) => {
    const registry = await registryOf(params, apiVersion);
    await auth.authorize(caller, `${SCOPE_MAP_TYPE}/read`, registry.arm!.resourceId);
    if (SYSTEM_SCOPE_MAPS[params.name!])
      return systemScopeMap(registry.arm!.resourceId, params.name!);
    const map = await controlPlane.getResource(childId(params, SCOPE_MAP_TYPE));
    if (!map)
      throw armErrors.notFound(
        SCOPE_MAP_TYPE,
        `${params.registry}/${params.name}`,
        params.resourceGroup!,
      );
    return resourceToArm(map);
  });
  router.add(
    'PUT',
    `${base}/scopeMaps/:name`,
    async ({ caller, params, apiVersion, body, reply }) => {
      const registry = await registryOf(params, apiVersion);
      const id = childId(params, SCOPE_MAP_TYPE);
      await auth.authorize(caller, `${SCOPE_MAP_TYPE}/write`, id);
      if (!CHILD_NAME.test(params.name!) || params.name!.startsWith('_')) {
        throw new ArmError(
          400,
          'InvalidScopeMapName',
          `Scope map name '${params.name}' is invalid: use 5-50 letters, digits, '-' or '_', not starting with '_'.`,
        );
      }
      const properties = isObject(body) && isObject(body.properties) ? body.properties : {};
      if (!Array.isArray(properties.actions) || properties.actions.length === 0) {
        throw new ArmError(
          400,
          'InvalidRequestContent',
          "The scope map needs a non-empty 'actions' list.",
        );
      }
      if (properties.actions.length > 500)
        throw new ArmError(
          400,
          'ScopeMapActionsLimitExceeded',
          'A scope map holds at most 500 actions.',
        );
      let actions: string[];
      try {
        actions = [...new Set(properties.actions.map((a) => parseScopeMapAction(String(a))))];
      } catch (error) {
        if (error instanceof ScopeMapError)
          throw new ArmError(400, 'InvalidScopeMapAction', error.message);
        throw error;
      }
      const description = typeof properties.description === 'string' ? properties.description : '';
      if (description.length > 256)
        throw new ArmError(
          400,
          'InvalidRequestContent',
          'The description can be at most 256 characters.',
        );
      const existing = await controlPlane.getResource(id);
      const map = await controlPlane.putResource({
        id: existing?.id ?? id,
        type: SCOPE_MAP_TYPE,
        subscriptionId: params.subscriptionId!,
        resourceGroup: registry.arm!.resourceGroup,
        name: existing?.name ?? params.name!,
        location: null,
        tags: null,
        sku: null,
        identity: null,
        properties: {
          description,
          type: 'UserDefined',
          creationDate: (existing?.properties.creationDate as string) ?? new Date().toISOString(),
          provisioningState: 'Succeeded',
          actions,
        },
        systemData: null,
      });
      reply.code(existing ? 200 : 201);
      return resourceToArm(map);
    },
  );
  router.add('DELETE', `${base}/scopeMaps/:name`, async ({ caller, params, apiVersion, reply }) => {
    await registryOf(params, apiVersion);
    const id = childId(params, SCOPE_MAP_TYPE);
    await auth.authorize(caller, `${SCOPE_MAP_TYPE}/delete`, id);
    const tokens = await controlPlane.listResources({
      subscriptionId: params.subscriptionId!,
      resourceGroup: params.resourceGroup!,
      type: TOKEN_TYPE,
    });
    if (tokens.some((t) => String(t.properties.scopeMapId).toLowerCase() === id.toLowerCase())) {
      throw new ArmError(
        400,
        'ScopeMapInUse',
        `The scope map '${params.name}' is used by a token; delete or update the token first.`,
      );
    }
    reply.code((await controlPlane.deleteResource(id)) ? 200 : 204);
    return '';
  });

  // Tokens
  router.add('GET', `${base}/tokens`, async ({ caller, params, apiVersion }) => {
    const registry = await registryOf(params, apiVersion);
    await auth.authorize(caller, `${TOKEN_TYPE}/read`, registry.arm!.resourceId);
    const prefix = `${registry.arm!.resourceId.toLowerCase()}/`;
    const tokens = await controlPlane.listResources({
      subscriptionId: params.subscriptionId!,
      resourceGroup: params.resourceGroup!,
      type: TOKEN_TYPE,
    });
    return { value: tokens.filter((t) => t.id.toLowerCase().startsWith(prefix)).map(tokenToArm) };
  });
  router.add('GET', `${base}/tokens/:name`, async ({ caller, params, apiVersion }) => {
    await registryOf(params, apiVersion);
    const id = childId(params, TOKEN_TYPE);
    await auth.authorize(caller, `${TOKEN_TYPE}/read`, id);
    const token = await controlPlane.getResource(id);
    if (!token)
      throw armErrors.notFound(
        TOKEN_TYPE,
        `${params.registry}/${params.name}`,
        params.resourceGroup!,
      );
    return tokenToArm(token);
  });
  router.add('PUT', `${base}/tokens/:name`, async ({ caller, params, apiVersion, body, reply }) => {
    const registry = await registryOf(params, apiVersion);
    const id = childId(params, TOKEN_TYPE);
    await auth.authorize(caller, `${TOKEN_TYPE}/write`, id);
    if (!CHILD_NAME.test(params.name!)) {
      throw new ArmError(
        400,
        'InvalidTokenName',
        `Token name '${params.name}' is invalid: use 5-50 letters, digits, '-' or '_'.`,
      );
    }
    const properties = isObject(body) && isObject(body.properties) ? body.properties : {};
    const existing = await controlPlane.getResource(id);
    const scopeMapId =
      typeof properties.scopeMapId === 'string'
        ? properties.scopeMapId
        : (existing?.properties.scopeMapId as string | undefined);
    if (!scopeMapId || !(await scopeMapActions(context, scopeMapId))) {
      throw new ArmError(
        400,
        'InvalidScopeMapId',
        `The scope map '${scopeMapId ?? ''}' does not exist.`,
      );
    }
    const status =
      properties.status === undefined
        ? (existing?.properties.status ?? 'enabled')
        : String(properties.status).toLowerCase();
    if (status !== 'enabled' && status !== 'disabled')
      throw new ArmError(
        400,
        'InvalidRequestContent',
        "The token status must be 'enabled' or 'disabled'.",
      );
    const token = await controlPlane.putResource({
      id: existing?.id ?? id,
      type: TOKEN_TYPE,
      subscriptionId: params.subscriptionId!,
      resourceGroup: registry.arm!.resourceGroup,
      name: existing?.name ?? params.name!,
      location: null,
      tags: null,
      sku: null,
      identity: null,
      properties: {
        creationDate: (existing?.properties.creationDate as string) ?? new Date().toISOString(),
        provisioningState: 'Succeeded',
        scopeMapId,
        status,
        credentials: existing?.properties.credentials ?? { passwords: [] },
      },
      systemData: null,
    });
    reply.code(existing ? 200 : 201);
    return tokenToArm(token);
  });
  router.add('DELETE', `${base}/tokens/:name`, async ({ caller, params, apiVersion, reply }) => {
    await registryOf(params, apiVersion);
    const id = childId(params, TOKEN_TYPE);
    await auth.authorize(caller, `${TOKEN_TYPE}/delete`, id);
    reply.code((await controlPlane.deleteResource(id)) ? 200 : 204);
    return '';
  });

  router.add(
    'POST',
    `${base}/generateCredentials`,
    async ({ caller, params, apiVersion, body }) => {
      const registry = await registryOf(params, apiVersion);
      await auth.authorize(
        caller,
        `${REGISTRY_TYPE}/generateCredentials/action`,
        registry.arm!.resourceId,
      );
      const input = isObject(body) ? body : {};
      const tokenId = typeof input.tokenId === 'string' ? input.tokenId : '';
      const token = await controlPlane.getResource(tokenId);
      if (
        !token ||
        !tokenId.toLowerCase().startsWith(`${registry.arm!.resourceId.toLowerCase()}/tokens/`)
      ) {
        throw new ArmError(
          400,
          'InvalidTokenId',
          `The token '${tokenId}' does not exist in registry '${registry.name}'.`,
        );
      }
      const expiry = typeof input.expiry === 'string' ? input.expiry : null;
      if (expiry !== null && Number.isNaN(Date.parse(expiry)))
        throw new ArmError(400, 'InvalidRequestContent', `Invalid expiry '${expiry}'.`);
      const names: Array<'password1' | 'password2'> =
        input.name === 'password1' || input.name === 'password2'
          ? [input.name]
          : ['password1', 'password2'];
      const current = (
        (token.properties.credentials as { passwords?: StoredPassword[] })?.passwords ?? []
      ).filter((p) => !names.includes(p.name));
      const generated: Array<{
        name: string;
        value: string;
        creationTime: string;
        expiry: string | null;
      }> = [];
      for (const name of names) {
        const value = generateSecret();
        const creationTime = new Date().toISOString();
        current.push({ name, creationTime, expiry, hash: await hashSecret(value) });
        generated.push({ name, value, creationTime, expiry: expiry ?? NO_EXPIRY });
      }
      await controlPlane.putResource({
        ...token,
        properties: {
          ...token.properties,
          credentials: { passwords: current.sort((a, b) => a.name.localeCompare(b.name)) },
        },
      });
      return {
        username: token.name,
        passwords: generated.map(({ creationTime, expiry: e, name, value }) => ({
          creationTime,
          expiry: e,
          name,
          value,
        })),
      };
    },
  );
}
