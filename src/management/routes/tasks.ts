/**
 * @module management/routes/tasks
 * ACR Tasks on the management plane (api-version 2019-06-01-preview shapes):
 *
 * - `registries/{r}/tasks/{t}`: PUT (create or replace), PATCH (update: step, credentials,
 *   identity, status), GET, DELETE, list; `POST .../listDetails` shows custom registry secrets
 * - `POST registries/{r}/scheduleRun`: TaskRunRequest, DockerBuildRequest, FileTaskRunRequest,
 *   EncodedTaskRunRequest -> a Queued run
 * - `registries/{r}/runs/{id}`: GET, list (`$top`, `$filter` on TaskName and Status), `POST
 *   .../cancel`, `POST .../listLogSasUrl` -> a link to `GET .../runs/{id}/log`, which answers the
 *   log so far with `x-ms-meta-Complete` once the run is over
 * - `POST registries/{r}/listBuildSourceUploadUrl` -> an upload URL (`PUT` a tar.gz there) and
 *   the `relativePath` that a run's `sourceLocation` or a task's `contextPath` names
 *
 * Custom registry passwords are sealed (they must be replayed to the other registry); GET shows
 * them without values, as ACR does.
 */
import { randomUUID } from 'node:crypto';
import { pipeline, Transform, type Readable } from 'node:stream';
import type { RegistryRecord, ResourceRecord } from '../../metadata/index.js';
import { isObject } from '../../core/json.js';
import {
  ACTIVE_RUN_STATUSES,
  RUN_TYPE,
  type RunRequest,
  type RunStep,
  type CustomRegistryCredential,
} from '../../services/tasks/index.js';
import { ArmError, armErrors } from '../arm-errors.js';
import type { ArmRequestContext, ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { identityAfterWrite } from '../managed-identity.js';
import { resourceId } from '../resource-id.js';
import { REGISTRY_TYPE } from '../registry-resource.js';
import { authorizedRegistry } from './registries.js';
import { resourceToArm } from './subscriptions.js';

export const TASK_TYPE = 'Microsoft.ContainerRegistry/registries/tasks';
const ACR = 'Microsoft.ContainerRegistry/registries';
const TASK_NAME = /^[a-zA-Z0-9-_]{5,50}$/;
const DEFAULT_TIMEOUT = 3600;
const MAX_SOURCE_BYTES = 2 * 1024 * 1024 * 1024;

function invalid(message: string, code = 'InvalidParameter'): ArmError {
  return new ArmError(400, code, message);
}

function tasksOf(context: ManagementContext) {
  if (!context.tasks)
    throw new ArmError(503, 'ServiceUnavailable', 'The task runner is not running.');
  return context.tasks;
}

function nameValues(
  value: unknown,
  what: string,
): Array<{ name: string; value: string; isSecret?: boolean }> {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`'${what}' must be an array of {name, value}.`);
  return value.map((item) => {
    if (!isObject(item) || typeof item.name !== 'string')
      throw invalid(`Each entry of '${what}' needs a name.`);
    return {
      name: item.name,
      value: String(item.value ?? ''),
      ...(item.isSecret === true ? { isSecret: true } : {}),
    };
  });
}

/** Validates a task step (or a run request's step part) and fills ACR's defaults. */
function parseStep(step: unknown, where: string): Record<string, unknown> {
  if (!isObject(step)) throw invalid(`'${where}' is required.`);
  const type = String(step.type ?? '');
  const contextPath =
    step.contextPath === undefined || step.contextPath === null
      ? undefined
      : String(step.contextPath);
  checkContextPath(contextPath);
  const context = contextPath ? { contextPath } : {};
  const required = (field: string): string => {
    const value = step[field];
    if (typeof value !== 'string' || !value)
      throw invalid(`'${where}.${field}' is required for a ${type} step.`);
    return value;
  };
  if (type === 'Docker') {
    return {
      type,
      dockerFilePath: required('dockerFilePath'),
      imageNames: Array.isArray(step.imageNames) ? step.imageNames.map(String) : [],
      isPushEnabled: step.isPushEnabled !== false,
      noCache: step.noCache === true,
      arguments: nameValues(step.arguments, `${where}.arguments`),
      ...(typeof step.target === 'string' && step.target ? { target: step.target } : {}),
      ...context,
    };
  }
  // The two task-file steps differ only in where the file comes from.
  const fileField = { FileTask: 'taskFilePath', EncodedTask: 'encodedTaskContent' }[type];
  if (fileField) {
    return {
      type,
      [fileField]: required(fileField),
      values: nameValues(step.values, `${where}.values`),
      ...context,
    };
  }
  throw invalid(`'${where}.type' must be Docker, FileTask or EncodedTask.`);
}

/** Contexts are uploaded archives (air-gapped: no git, no URLs), or none. */
function checkContextPath(contextPath: string | undefined): void {
  if (contextPath === undefined || contextPath === '/dev/null') return;
  if (!/^source\/[0-9a-z-]+\.tar\.gz$/.test(contextPath)) {
    throw invalid(
      `The context '${contextPath}' cannot be used: this platform has no network access to git or URLs. Upload the context (listBuildSourceUploadUrl, or 'acr task create --context DIR') and use its relativePath.`,
    );
  }
}

function parsePlatform(value: unknown): { os: string; architecture: string } {
  const platform = isObject(value) ? value : { os: 'Linux' };
  const os = String(platform.os ?? 'Linux');
  const architecture = String(platform.architecture ?? 'amd64');
  if (os.toLowerCase() !== 'linux' || architecture.toLowerCase() !== 'amd64') {
    throw invalid(
      `The platform '${os}/${architecture}' is not supported; runs execute on linux/amd64.`,
    );
  }
  return { os: 'linux', architecture: 'amd64' };
}

function parseTimeout(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_TIMEOUT;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 300 || seconds > 28800)
    throw invalid("'timeout' must be between 300 and 28800 seconds.");
  return seconds;
}

/**
 * Merges requested credentials into the stored ones: `sourceRegistry.loginMode`, and
 * `customRegistries` by login server (null removes one). Passwords are sealed.
 */
function mergeCredentials(
  context: ManagementContext,
  stored: Record<string, unknown> | undefined,
  requested: unknown,
): Record<string, unknown> {
  const current = isObject(stored) ? stored : {};
  const merged: Record<string, unknown> = {
    sourceRegistry: isObject(current.sourceRegistry)
      ? current.sourceRegistry
      : { loginMode: 'Default' },
    customRegistries: { ...(isObject(current.customRegistries) ? current.customRegistries : {}) },
  };
  if (requested === undefined || requested === null) return merged;
  if (!isObject(requested)) throw invalid("'credentials' must be an object.");
  if (requested.sourceRegistry !== undefined) {
    const mode = isObject(requested.sourceRegistry)
      ? String(requested.sourceRegistry.loginMode ?? 'Default')
      : '';
    if (mode !== 'Default' && mode !== 'None')
      throw invalid("'credentials.sourceRegistry.loginMode' must be Default or None.");
    merged.sourceRegistry = { loginMode: mode };
  }
  if (requested.customRegistries !== undefined) {
    if (!isObject(requested.customRegistries))
      throw invalid("'credentials.customRegistries' must be an object.");
    const custom = merged.customRegistries as Record<string, unknown>;
    for (const [server, value] of Object.entries(requested.customRegistries)) {
      const key = server.toLowerCase();
      if (value === null) {
        delete custom[key];
        continue;
      }
      if (!isObject(value))
        throw invalid(`'credentials.customRegistries.${server}' must be an object.`);
      const entry: Record<string, unknown> = {};
      if (typeof value.identity === 'string' && value.identity) entry.identity = value.identity;
      const secret = (field: unknown, name: string) => {
        if (field === undefined || field === null) return undefined;
        if (!isObject(field) || typeof field.value !== 'string')
          throw invalid(`'${name}' must be {type, value}.`);
        if (field.type === 'Vaultsecret')
          throw invalid(
            `'${name}': Key Vault secrets cannot be reached from this platform; use type Opaque.`,
          );
        return { type: 'Opaque', sealed: context.sealer.seal(field.value) };
      };
      const userName = secret(value.userName, `${server}.userName`);
      const password = secret(value.password, `${server}.password`);
      if (userName) entry.userName = userName;
      if (password) entry.password = password;
      if (!entry.identity && !(userName && password))
        throw invalid(
          `'credentials.customRegistries.${server}' needs an identity or a userName and password.`,
        );
      custom[key] = entry;
    }
  }
  return merged;
}

/** Credentials as ARM shows them: secrets without values (with them for listDetails). */
function showCredentials(
  context: ManagementContext,
  credentials: unknown,
  withSecrets: boolean,
): unknown {
  if (!isObject(credentials)) return credentials;
  const custom: Record<string, unknown> = {};
  for (const [server, value] of Object.entries(
    isObject(credentials.customRegistries) ? credentials.customRegistries : {},
  )) {
    if (!isObject(value)) continue;
    const show = (field: unknown) =>
      isObject(field) && typeof field.sealed === 'string'
        ? { type: 'Opaque', ...(withSecrets ? { value: context.sealer.unseal(field.sealed) } : {}) }
        : undefined;
    custom[server] = {
      ...(value.identity ? { identity: value.identity } : {}),
      ...(value.userName ? { userName: show(value.userName) } : {}),
      ...(value.password ? { password: show(value.password) } : {}),
    };
  }
  return { ...credentials, customRegistries: custom };
}

function taskToArm(context: ManagementContext, task: ResourceRecord, withSecrets = false) {
  const arm = resourceToArm(task);
  return {
    ...arm,
    properties: {
      ...task.properties,
      credentials: showCredentials(context, task.properties.credentials, withSecrets),
    },
  };
}

/** What a run uses of stored credentials: plain values, for the runner only. */
function runCredentials(
  context: ManagementContext,
  credentials: unknown,
): RunRequest['credentials'] {
  const stored = isObject(credentials) ? credentials : {};
  const loginMode =
    isObject(stored.sourceRegistry) && stored.sourceRegistry.loginMode === 'None'
      ? 'None'
      : 'Default';
  const customRegistries: Record<string, CustomRegistryCredential> = {};
  for (const [server, value] of Object.entries(
    isObject(stored.customRegistries) ? stored.customRegistries : {},
  )) {
    if (!isObject(value)) continue;
    const unseal = (field: unknown) =>
      isObject(field) && typeof field.sealed === 'string'
        ? context.sealer.unseal(field.sealed)
        : undefined;
    const username = unseal(value.userName);
    const password = unseal(value.password);
    customRegistries[server.toLowerCase()] = {
      ...(typeof value.identity === 'string' ? { identity: value.identity } : {}),
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
    };
  }
  return { loginMode, customRegistries };
}

function runStepOf(step: Record<string, unknown>, overrides?: Record<string, unknown>): RunStep {
  const values = (name: string) =>
    nameValues(overrides?.[name] ?? step[name], name).map(({ name: n, value }) => ({
      name: n,
      value,
    }));
  if (step.type === 'Docker') {
    return {
      type: 'Docker',
      dockerFilePath: String(overrides?.file ?? step.dockerFilePath),
      imageNames: (step.imageNames as string[]) ?? [],
      isPushEnabled: step.isPushEnabled !== false,
      arguments: values('arguments'),
      ...(typeof (overrides?.target ?? step.target) === 'string'
        ? { target: String(overrides?.target ?? step.target) }
        : {}),
    };
  }
  if (step.type === 'FileTask') {
    return {
      type: 'FileTask',
      taskFilePath: String(overrides?.file ?? step.taskFilePath),
      values: values('values'),
    };
  }
  return {
    type: 'EncodedTask',
    encodedTaskContent: String(step.encodedTaskContent),
    values: values('values'),
  };
}

function registryOf(registry: RegistryRecord): RunRequest['registry'] {
  const arm = registry.arm!;
  return {
    resourceId: arm.resourceId,
    name: registry.name,
    loginServer: registry.loginServer,
    location: arm.location,
    subscriptionId: arm.subscriptionId,
    resourceGroup: arm.resourceGroup,
  };
}

export function registerTaskRoutes(router: ArmRouter, context: ManagementContext): void {
  const { controlPlane } = context;
  const registryPath =
    '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers/Microsoft.ContainerRegistry/registries/:name';
  const tasks = `${registryPath}/tasks`;
  const runs = `${registryPath}/runs`;

  const taskId = (params: Record<string, string>) =>
    resourceId(
      params.subscriptionId!,
      params.resourceGroup!,
      TASK_TYPE,
      `${params.name}/${params.task}`,
    );
  const loadTask = async (params: Record<string, string>) => {
    const task = await controlPlane.getResource(taskId(params));
    if (!task)
      throw armErrors.notFound(TASK_TYPE, `${params.name}/${params.task}`, params.resourceGroup!);
    return task;
  };

  const writeTask = async (ctx: ArmRequestContext, partial: boolean) => {
    const { caller, params, body, reply, apiVersion } = ctx;
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${TASK_TYPE}/write`,
    );
    const id = taskId(params);
    if (!TASK_NAME.test(params.task!))
      throw invalid(
        `The task name '${params.task}' is invalid: 5 to 50 letters, digits, '-' or '_'.`,
        'InvalidTaskName',
      );
    const existing = await controlPlane.getResource(id);
    if (partial && !existing)
      throw armErrors.notFound(TASK_TYPE, `${params.name}/${params.task}`, params.resourceGroup!);
    const input = isObject(body) ? body : {};
    const requested = isObject(input.properties) ? input.properties : {};
    const previous = partial ? existing!.properties : {};
    const step =
      requested.step !== undefined
        ? parseStep(
            partial
              ? { ...(previous.step as object), ...(requested.step as object) }
              : requested.step,
            'properties.step',
          )
        : partial
          ? previous.step
          : parseStep(undefined, 'properties.step');
    const identity = await identityAfterWrite(context, id, existing?.identity, input.identity);
    const credentials = mergeCredentials(
      context,
      partial ? (previous.credentials as Record<string, unknown>) : undefined,
      requested.credentials,
    );
    // A custom registry that names an identity needs that identity on the task.
    for (const [server, value] of Object.entries(
      credentials.customRegistries as Record<string, Record<string, unknown>>,
    )) {
      const wanted = value.identity as string | undefined;
      if (!wanted) continue;
      const type = String(identity?.type ?? 'None');
      const ok =
        wanted === '[system]'
          ? type.includes('SystemAssigned')
          : type.includes('UserAssigned') &&
            Object.values(
              (identity?.userAssignedIdentities as Record<string, { clientId?: string }>) ?? {},
            ).some((u) => u.clientId?.toLowerCase() === wanted.toLowerCase());
      if (!ok)
        throw invalid(
          `The identity '${wanted}' of custom registry '${server}' is not assigned to the task.`,
          'InvalidTaskIdentity',
        );
    }
    const status = requested.status ?? previous.status ?? 'Enabled';
    if (status !== 'Enabled' && status !== 'Disabled')
      throw invalid("'status' must be Enabled or Disabled.");
    const now = new Date().toISOString();
    const properties: Record<string, unknown> = {
      provisioningState: 'Succeeded',
      creationDate: previous.creationDate ?? existing?.properties.creationDate ?? now,
      status,
      platform: parsePlatform(requested.platform ?? previous.platform),
      agentConfiguration: { cpu: 2 },
      timeout: parseTimeout(requested.timeout ?? previous.timeout),
      step,
      credentials,
      ...(requested.trigger !== undefined || previous.trigger !== undefined
        ? { trigger: requested.trigger ?? previous.trigger }
        : {}),
      isSystemTask: false,
    };
    const task = await controlPlane.putResource({
      id: existing?.id ?? id,
      type: TASK_TYPE,
      subscriptionId: params.subscriptionId!,
      resourceGroup: registry.arm!.resourceGroup.toLowerCase(),
      name: existing?.name ?? params.task!,
      location: registry.arm!.location,
      tags: isObject(input.tags)
        ? (input.tags as Record<string, string>)
        : (existing?.tags ?? null),
      sku: null,
      identity,
      properties,
      systemData: null,
    });
    reply.code(existing ? 200 : 201);
    return taskToArm(context, task);
  };

  router.add('PUT', `${tasks}/:task`, (ctx) => writeTask(ctx, false));
  router.add('PATCH', `${tasks}/:task`, (ctx) => writeTask(ctx, true));
  router.add('GET', `${tasks}/:task`, async ({ caller, params, apiVersion }) => {
    await authorizedRegistry(context, caller, params, apiVersion, `${TASK_TYPE}/read`);
    return taskToArm(context, await loadTask(params));
  });
  router.add('POST', `${tasks}/:task/listDetails`, async ({ caller, params, apiVersion }) => {
    await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${TASK_TYPE}/listDetails/action`,
    );
    return taskToArm(context, await loadTask(params), true);
  });
  router.add('GET', tasks, async ({ caller, params, apiVersion }) => {
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${TASK_TYPE}/read`,
    );
    const prefix = `${registry.arm!.resourceId.toLowerCase()}/tasks/`;
    const all = await controlPlane.listResources({
      subscriptionId: params.subscriptionId!,
      resourceGroup: params.resourceGroup!,
      type: TASK_TYPE,
    });
    return {
      value: all
        .filter((t) => t.id.toLowerCase().startsWith(prefix))
        .map((t) => taskToArm(context, t)),
    };
  });
  router.add('DELETE', `${tasks}/:task`, async ({ caller, params, reply, apiVersion }) => {
    await authorizedRegistry(context, caller, params, apiVersion, `${TASK_TYPE}/delete`);
    const id = taskId(params);
    await context.identity.removeIdentityOf(id);
    reply.code((await controlPlane.deleteResource(id)) ? 200 : 204);
    return '';
  });

  // Source upload: an URL to PUT a tar.gz to, and the relativePath runs refer to it by.
  router.add(
    'POST',
    `${registryPath}/listBuildSourceUploadUrl`,
    async ({ caller, params, apiVersion }) => {
      await authorizedRegistry(
        context,
        caller,
        params,
        apiVersion,
        `${ACR}/listBuildSourceUploadUrl/action`,
      );
      const upload = randomUUID();
      const registryId = resourceId(
        params.subscriptionId!,
        params.resourceGroup!,
        REGISTRY_TYPE,
        params.name!,
      );
      return {
        uploadUrl: `${context.managementUrl}${registryId}/buildSources/${upload}?api-version=${apiVersion}`,
        relativePath: `source/${upload}.tar.gz`,
      };
    },
  );
  router.add(
    'PUT',
    `${registryPath}/buildSources/:upload`,
    async ({ caller, params, apiVersion, body, reply }) => {
      await authorizedRegistry(
        context,
        caller,
        params,
        apiVersion,
        `${ACR}/listBuildSourceUploadUrl/action`,
      );
      if (!/^[0-9a-f-]{36}$/.test(params.upload!))
        throw invalid('Unknown upload.', 'InvalidUpload');
      if (!body || typeof (body as Readable).pipe !== 'function')
        throw invalid("Send the source archive as 'application/octet-stream'.", 'InvalidUpload');
      let size = 0;
      const limit = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          size += chunk.length;
          callback(size > MAX_SOURCE_BYTES ? new Error('too large') : null, chunk);
        },
      });
      // Into the shared blob store: the run that uses it may start on another replica.
      const archive = pipeline(body as Readable, limit, () => undefined);
      try {
        await tasksOf(context).storeSource(`source/${params.upload}.tar.gz`, archive);
      } catch {
        throw size > MAX_SOURCE_BYTES
          ? invalid('The source archive is larger than 2 GiB.', 'RequestEntityTooLarge')
          : invalid('The upload was interrupted.', 'InvalidUpload');
      }
      reply.code(201);
      return '';
    },
  );

  router.add(
    'POST',
    `${registryPath}/scheduleRun`,
    async ({ caller, params, apiVersion, body }) => {
      const registry = await authorizedRegistry(
        context,
        caller,
        params,
        apiVersion,
        `${ACR}/scheduleRun/action`,
      );
      const input = isObject(body) ? body : {};
      const type = String(input.type ?? '');
      let request: RunRequest;
      const base = { registry: registryOf(registry), timeoutSeconds: parseTimeout(input.timeout) };
      const source = (value: unknown) => {
        const location = value === undefined || value === null ? undefined : String(value);
        checkContextPath(location);
        return location && location !== '/dev/null' ? { sourceLocation: location } : {};
      };
      if (type === 'TaskRunRequest') {
        const taskRef = String(input.taskId ?? input.taskName ?? '');
        const taskName = taskRef.split('/').at(-1) ?? '';
        const task = await controlPlane.getResource(
          resourceId(
            params.subscriptionId!,
            params.resourceGroup!,
            TASK_TYPE,
            `${params.name}/${taskName}`,
          ),
        );
        if (!task)
          throw armErrors.notFound(TASK_TYPE, `${params.name}/${taskName}`, params.resourceGroup!);
        if (task.properties.status === 'Disabled')
          throw invalid(`The task '${taskName}' is disabled.`, 'TaskDisabled');
        const overrides = isObject(input.overrideTaskStepProperties)
          ? input.overrideTaskStepProperties
          : undefined;
        const step = task.properties.step as Record<string, unknown>;
        request = {
          ...base,
          timeoutSeconds: Number(task.properties.timeout ?? DEFAULT_TIMEOUT),
          runType: 'QuickRun',
          task: { name: task.name, resourceId: task.id },
          step: runStepOf(step, overrides),
          ...source(overrides?.contextPath ?? step.contextPath),
          credentials: runCredentials(context, task.properties.credentials),
          platform: parsePlatform(task.properties.platform),
        };
      } else if (
        type === 'DockerBuildRequest' ||
        type === 'FileTaskRunRequest' ||
        type === 'EncodedTaskRunRequest'
      ) {
        const stepInput =
          type === 'DockerBuildRequest'
            ? { ...input, type: 'Docker' }
            : type === 'FileTaskRunRequest'
              ? { ...input, type: 'FileTask' }
              : { ...input, type: 'EncodedTask' };
        const step = parseStep({ ...stepInput, contextPath: undefined }, 'body');
        request = {
          ...base,
          runType: type === 'DockerBuildRequest' ? 'QuickBuild' : 'QuickRun',
          step: runStepOf(step),
          ...source(input.sourceLocation),
          credentials: runCredentials(
            context,
            mergeCredentials(context, undefined, input.credentials),
          ),
          platform: parsePlatform(input.platform),
        };
      } else {
        throw invalid(
          "'type' must be TaskRunRequest, DockerBuildRequest, FileTaskRunRequest or EncodedTaskRunRequest.",
        );
      }
      const run = await tasksOf(context).schedule(request);
      return resourceToArm(run);
    },
  );

  const runId = (params: Record<string, string>) =>
    `${resourceId(params.subscriptionId!, params.resourceGroup!, REGISTRY_TYPE, params.name!)}/runs/${params.run}`;
  const loadRun = async (params: Record<string, string>) => {
    const run = await controlPlane.getResource(runId(params));
    if (!run)
      throw armErrors.notFound(RUN_TYPE, `${params.name}/${params.run}`, params.resourceGroup!);
    return run;
  };
  const authorizedRun = async (
    caller: ArmRequestContext['caller'],
    params: Record<string, string>,
    apiVersion: string,
    action: string,
  ) => {
    await authorizedRegistry(context, caller, params, apiVersion, action);
    return loadRun(params);
  };
  router.add('GET', runs, async ({ caller, params, apiVersion, query }) => {
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${RUN_TYPE}/read`,
    );
    const prefix = `${registry.arm!.resourceId.toLowerCase()}/runs/`;
    const all = (
      await controlPlane.listResources({
        subscriptionId: params.subscriptionId!,
        resourceGroup: params.resourceGroup!,
        type: RUN_TYPE,
      })
    )
      .filter((run) => run.id.toLowerCase().startsWith(prefix))
      .filter(runFilter(query.get('$filter')))
      .sort((a, b) =>
        String(b.properties.createTime).localeCompare(String(a.properties.createTime)),
      );
    const top = Number(query.get('$top') ?? 0);
    return { value: (top > 0 ? all.slice(0, top) : all).map(resourceToArm) };
  });
  router.add('GET', `${runs}/:run`, async ({ caller, params, apiVersion }) => {
    return resourceToArm(await authorizedRun(caller, params, apiVersion, `${RUN_TYPE}/read`));
  });
  router.add('POST', `${runs}/:run/cancel`, async ({ caller, params, apiVersion, reply }) => {
    const run = await authorizedRun(caller, params, apiVersion, `${RUN_TYPE}/cancel/action`);
    if (ACTIVE_RUN_STATUSES.has(String(run.properties.status)))
      await tasksOf(context).cancel(run.id);
    reply.code(202);
    return '';
  });
  router.add('POST', `${runs}/:run/listLogSasUrl`, async ({ caller, params, apiVersion }) => {
    const run = await authorizedRun(caller, params, apiVersion, `${RUN_TYPE}/listLogSasUrl/action`);
    const link = `${context.managementUrl}${run.id}/log?api-version=${apiVersion}`;
    return { logLink: link, logArtifactLink: link };
  });
  router.add('GET', `${runs}/:run/log`, async ({ caller, params, apiVersion, reply, query }) => {
    const run = await authorizedRun(caller, params, apiVersion, `${RUN_TYPE}/listLogSasUrl/action`);
    const status = String(run.properties.status);
    const log = await context.runLogs!.read(run.id);
    const offset = Math.max(0, Number(query.get('offset') ?? 0) || 0);
    reply.header('content-type', 'text/plain; charset=utf-8');
    reply.header('x-ms-meta-Status', status);
    if (!ACTIVE_RUN_STATUSES.has(status))
      reply.header(
        'x-ms-meta-Complete',
        status === 'Succeeded' ? 'successful' : status.toLowerCase(),
      );
    const buffer = Buffer.from(log, 'utf8');
    reply.header('x-ms-meta-Length', String(buffer.length));
    return buffer.subarray(Math.min(offset, buffer.length)).toString('utf8');
  });
}

/** `$filter` as az sends it: `TaskName eq 'x'`, `Status eq 'Running'`, joined by `and`. */
function runFilter(filter: string | null): (run: ResourceRecord) => boolean {
  if (!filter) return () => true;
  const clauses = filter.split(/\s+and\s+/i).map((clause) => {
    const match = /^\s*(\w+)\s+eq\s+'([^']*)'\s*$/i.exec(clause);
    if (!match)
      throw invalid(
        `The $filter '${filter}' is not supported (use TaskName, Status or RunType eq '...').`,
      );
    const field = match[1]!.toLowerCase();
    const value = match[2]!.toLowerCase();
    const property =
      field === 'taskname'
        ? 'task'
        : field === 'status'
          ? 'status'
          : field === 'runtype'
            ? 'runType'
            : undefined;
    if (!property) throw invalid(`The $filter field '${match[1]}' is not supported.`);
    return (run: ResourceRecord) => String(run.properties[property] ?? '').toLowerCase() === value;
  });
  return (run) => clauses.every((clause) => clause(run));
}
