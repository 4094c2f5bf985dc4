/**
 * @module management/routes/import
 * `POST .../registries/{name}/importImage` (ACR's ImportImageParameters) as a long-running
 * operation, and the two URLs a client polls it at. Before anything is copied the CALLER must
 * hold `registries/importImage/action` on the target and, for a source in this platform named
 * without credentials, read access to the source repository (ARM's linked-scope check); the
 * copy itself then runs as the first-party import identity through the data plane, so the
 * network rules and the trusted-services bypass of both registries decide.
 */
import type { DataPrincipal } from '../../access/index.js';
import { isObject } from '../../core/json.js';
import type { RegistryRecord } from '../../metadata/index.js';
import {
  ImportError,
  splitImage,
  type ImportPlan,
  type ImportSource,
} from '../../services/index.js';
import { ArmError } from '../arm-errors.js';
import type { ArmRequestContext, ArmRouter } from '../arm-router.js';
import { AsyncOperations } from '../async-operations.js';
import type { ManagementContext } from '../context.js';
import { REGISTRY_TYPE } from '../registry-resource.js';
import { parseResourceId } from '../resource-id.js';
import { authorizedRegistry } from './registries.js';

const BASE =
  '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers/Microsoft.ContainerRegistry/registries';
const IMPORT_ACTION = `${REGISTRY_TYPE}/importImage/action`;
const READ_ACTION = `${REGISTRY_TYPE}/read`;
const PULL_ACTION = `${REGISTRY_TYPE}/pull/read`;

function invalid(message: string): ArmError {
  return new ArmError(400, 'InvalidParameters', message);
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0)) {
    throw invalid(`'${field}' must be an array of strings.`);
  }
  return value as string[];
}

interface ParsedBody {
  sourceImage: string;
  resourceId?: string;
  registryUri?: string;
  credentials?: { username?: string; password: string };
  targetTags: string[];
  untaggedTargetRepositories: string[];
  mode: 'Force' | 'NoForce';
}

/** Validates ACR's ImportImageParameters. */
function parseBody(body: unknown): ParsedBody {
  if (!isObject(body) || !isObject(body.source)) {
    throw invalid("The request must have a 'source' object.");
  }
  const source = body.source;
  if (typeof source.sourceImage !== 'string' || source.sourceImage === '') {
    throw invalid("'source.sourceImage' is required.");
  }
  const resourceId = typeof source.resourceId === 'string' ? source.resourceId : undefined;
  const registryUri = typeof source.registryUri === 'string' ? source.registryUri : undefined;
  if (!resourceId && !registryUri) {
    throw invalid("The source must have either 'resourceId' or 'registryUri'.");
  }
  if (resourceId && registryUri) {
    throw invalid("The source must have only one of 'resourceId' and 'registryUri'.");
  }
  let credentials: ParsedBody['credentials'];
  if (source.credentials !== undefined && source.credentials !== null) {
    const given = source.credentials;
    if (!isObject(given) || typeof given.password !== 'string') {
      throw invalid("'source.credentials.password' is required with credentials.");
    }
    if (resourceId) throw invalid("'source.credentials' may only be used with 'registryUri'.");
    credentials = {
      password: given.password,
      ...(typeof given.username === 'string' ? { username: given.username } : {}),
    };
  }
  const targetTags = stringList(body.targetTags, 'targetTags');
  const untaggedTargetRepositories = stringList(
    body.untaggedTargetRepositories,
    'untaggedTargetRepositories',
  );
  if (targetTags.length === 0 && untaggedTargetRepositories.length === 0) {
    throw invalid("At least one of 'targetTags' and 'untaggedTargetRepositories' is required.");
  }
  for (const tag of targetTags) {
    if (tag.includes('@')) throw invalid(`The target tag '${tag}' must be 'repository:tag'.`);
  }
  const mode = body.mode === undefined ? 'NoForce' : body.mode;
  if (mode !== 'Force' && mode !== 'NoForce') {
    throw invalid(`The mode '${String(mode)}' is not valid. Allowed values: NoForce, Force.`);
  }
  return {
    sourceImage: source.sourceImage,
    ...(resourceId ? { resourceId } : {}),
    ...(registryUri ? { registryUri } : {}),
    ...(credentials ? { credentials } : {}),
    targetTags,
    untaggedTargetRepositories,
    mode,
  };
}

/** The platform registry a resource id names, or a 400 in ACR's words. */
async function registryByResourceId(
  context: ManagementContext,
  id: string,
): Promise<RegistryRecord> {
  const parsed = parseResourceId(id);
  if (parsed?.type?.toLowerCase() !== REGISTRY_TYPE.toLowerCase() || !parsed.name) {
    throw invalid(`The source resource id '${id}' is not a container registry.`);
  }
  const registry = await context.metadata.getRegistryByName(parsed.name);
  if (!registry || registry.arm?.resourceId.toLowerCase() !== id.toLowerCase()) {
    throw invalid(`The source registry '${id}' could not be found.`);
  }
  return registry;
}

/** A registryUri that is one of this platform's registries (login server, alias or name). */
async function platformRegistryAt(
  context: ManagementContext,
  uri: string,
): Promise<RegistryRecord | undefined> {
  const host = uri
    .replace(/^https?:\/\//i, '')
    .replace(/\/+$/, '')
    .toLowerCase();
  const byHost = await context.metadata.getRegistryByHost(host);
  if (byHost) return byHost;
  const suffix = `.${context.loginServerSuffix.toLowerCase()}`;
  const bare = host.split(':')[0]!;
  if (bare.endsWith(suffix))
    return context.metadata.getRegistryByName(bare.slice(0, -suffix.length));
  // A bare registry name (no dot, no port) is no public host: it names a registry here.
  if (/^[a-z0-9]+$/.test(host) && host !== 'localhost')
    return context.metadata.getRegistryByName(host);
  return undefined;
}

/**
 * ARM's linked-scope check: the caller may import into the target but must also be able to
 * read the source (its role there, judged by the registry's own permission rules).
 */
async function requireSourceRead(
  context: ManagementContext,
  caller: ArmRequestContext['caller'],
  source: RegistryRecord,
  repository: string,
  target: RegistryRecord,
): Promise<void> {
  const principal: DataPrincipal = {
    subject: { kind: 'aad', id: caller.principal.objectId, tenant: caller.principal.tenantId },
    via: 'access token',
  };
  const allowed = await context.decider.may(source, principal, {
    kind: 'repository',
    repository,
    actions: ['pull'],
  });
  if (!allowed) {
    const sourceId = source.arm?.resourceId ?? source.loginServer;
    throw new ArmError(
      403,
      'LinkedAuthorizationFailed',
      `The client '${caller.principal.appId}' with object id '${caller.principal.objectId}' has permission to perform action '${IMPORT_ACTION}' on scope '${target.arm!.resourceId}'; however, it does not have permission to perform action(s) '${PULL_ACTION}' on the linked scope(s) '${sourceId}' (respectively) or the linked scope(s) are invalid.`,
    );
  }
}

export function registerImportRoutes(router: ArmRouter, context: ManagementContext): void {
  router.add(
    'POST',
    `${BASE}/:name/importImage`,
    async ({ caller, params, apiVersion, body, reply }) => {
      const target = await authorizedRegistry(context, caller, params, apiVersion, IMPORT_ACTION);
      const request = parseBody(body);
      const { repository: sourceRepository } = splitImage(request.sourceImage);

      let source: ImportSource;
      const inPlatform = request.resourceId
        ? await registryByResourceId(context, request.resourceId)
        : await platformRegistryAt(context, request.registryUri!);
      if (inPlatform && !request.credentials) {
        await requireSourceRead(context, caller, inPlatform, sourceRepository, target);
        source = { kind: 'platform', loginServer: inPlatform.loginServer };
      } else if (inPlatform) {
        source = { kind: 'platform', loginServer: inPlatform.loginServer, ...request.credentials };
      } else {
        source = { kind: 'external', registryUri: request.registryUri!, ...request.credentials };
      }
      const plan: ImportPlan = {
        source,
        sourceImage: request.sourceImage,
        targetLoginServer: target.loginServer,
        targetTags: request.targetTags,
        untaggedTargetRepositories: request.untaggedTargetRepositories,
        mode: request.mode,
      };
      const targetId = target.arm!.resourceId;
      const operation = context.operations.start(
        'registries',
        targetId,
        target.arm!.location,
        async (op) => {
          try {
            const result = await context.importer.run(plan, (progress) => {
              op.properties = { ...progress };
            });
            return { ...result };
          } catch (error) {
            // Anything but an ImportError is the server's fault: an InternalServerError.
            if (!(error instanceof ImportError)) throw error;
            throw new ArmError(
              400,
              error.code,
              `Operation ${op.name} failed. Resource ${targetId} ${error.message}`,
            );
          }
        },
      );
      return context.operations.accepted(reply, operation, context.managementUrl, apiVersion);
    },
  );

  // Azure-AsyncOperation: the operation's status resource.
  router.add(
    'GET',
    `${BASE}/:name/operationStatuses/:operation`,
    async ({ caller, params, apiVersion, reply }) => {
      const registry = await authorizedRegistry(context, caller, params, apiVersion, READ_ACTION);
      const operation = context.operations.get(params.operation!);
      if (
        !operation ||
        operation.resourceId.toLowerCase() !== registry.arm!.resourceId.toLowerCase()
      ) {
        throw new ArmError(404, 'NotFound', `The operation '${params.operation}' was not found.`);
      }
      // Pollers wait as long as Retry-After says (azure-core: 30 s without it).
      if (operation.status === 'InProgress') reply.header('retry-after', '1');
      return AsyncOperations.statusOf(operation);
    },
  );

  // Location: 202 while running, then the result (or the operation's error).
  router.add(
    'GET',
    '/subscriptions/:subscriptionId/providers/Microsoft.ContainerRegistry/locations/:location/operationResults/:operation',
    async ({ caller, params, reply }) => {
      const operation = context.operations.get(params.operation!);
      if (
        !operation ||
        operation.resourceId.split('/')[2]?.toLowerCase() !== params.subscriptionId!.toLowerCase()
      ) {
        throw new ArmError(404, 'NotFound', `The operation '${params.operation}' was not found.`);
      }
      await context.auth.authorize(caller, READ_ACTION, operation.resourceId);
      return AsyncOperations.resultOf(operation, reply);
    },
  );
}
