/**
 * @module management/routes/ml-workspaces
 * `Microsoft.MachineLearningServices/workspaces` with their managed identity, environment
 * versions (`environments/{e}/versions/{v}` with a custom `image`), and command jobs
 * (`jobs/{name}`: command, environment, literal inputs, uri_folder outputs) that the job runner
 * executes with the workspace's identity. A job's `properties.status` follows the run; its logs
 * (`jobs/{name}/logs`) and kept output folders (`jobs/{name}/outputs/{output}`, one file with
 * `?path=`) are read through the management API.
 */
import { randomUUID } from 'node:crypto';
import type { ResourceRecord } from '../../metadata/index.js';
import { isObject } from '../../core/json.js';
import type { MlJobSpec, MlJobView } from '../../services/index.js';
import { ArmError, armErrors } from '../arm-errors.js';
import type { ArmRequestContext, ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { identityAfterWrite } from '../managed-identity.js';
import { parseResourceId, resourceId } from '../resource-id.js';
import { beginResourcePut, registerResourceReads, writeResource } from './resource-reads.js';
import { resourceToArm } from './subscriptions.js';

export const WORKSPACE_TYPE = 'Microsoft.MachineLearningServices/workspaces';
const ENVIRONMENT_VERSION_TYPE = `${WORKSPACE_TYPE}/environments/versions`;
const JOB_TYPE = `${WORKSPACE_TYPE}/jobs`;
const GROUP = '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers';
const NAME = /^[a-zA-Z0-9][\w-]{0,254}$/;
const TERMINAL = new Set(['Completed', 'Failed', 'Canceled']);
/** Azure ML's state of a job asked to stop: it stands until the job ends. */
const CANCEL_REQUESTED = 'CancelRequested';
/** How often the replica running a job looks for a cancel or delete made through another. */
const CANCEL_POLL_MS = 1000;
export const REPLICA_STOPPED = 'The replica running the job stopped while the job was active.';

function userError(message: string, status = 400): ArmError {
  return new ArmError(status, 'UserError', message);
}

async function requireWorkspace(
  context: ManagementContext,
  params: Record<string, string>,
): Promise<ResourceRecord> {
  const id = resourceId(
    params.subscriptionId!,
    params.resourceGroup!,
    WORKSPACE_TYPE,
    params.workspace!,
  );
  const workspace = await context.controlPlane.getResource(id);
  if (!workspace)
    throw armErrors.notFound(WORKSPACE_TYPE, params.workspace!, params.resourceGroup!);
  return workspace;
}

/** The identity a workspace pulls with: its primary user-assigned identity, or its own. */
function pullIdentity(workspace: ResourceRecord): string {
  const primary = workspace.properties.primaryUserAssignedIdentity;
  if (typeof primary === 'string' && primary) return primary;
  if (String(workspace.identity?.type ?? '').includes('SystemAssigned')) return 'system';
  throw userError(
    `The workspace '${workspace.name}' has no managed identity to pull the job's image with.`,
  );
}

export function registerMlWorkspaceRoutes(router: ArmRouter, context: ManagementContext): void {
  const { auth, controlPlane, mlJobs, workLeases } = context;
  // A job whose replica died (its lease expired) can never finish: it fails, saying why.
  workLeases.onAbandoned(JOB_TYPE, async (id) => {
    await controlPlane.updateResourceProperties(id, (current) =>
      TERMINAL.has(String(current.status))
        ? undefined
        : {
            ...current,
            status: 'Failed',
            endTime: new Date().toISOString(),
            error: { code: 'ServiceError', message: REPLICA_STOPPED },
          },
    );
  });
  const workspaces = `${GROUP}/${WORKSPACE_TYPE}`;
  const workspace = `${workspaces}/:workspace`;
  registerResourceReads(router, context, WORKSPACE_TYPE);

  router.add('PUT', `${workspaces}/:name`, async (request) => {
    const { params, reply } = request;
    const {
      id,
      group: rg,
      existing,
      input,
    } = await beginResourcePut(context, request, WORKSPACE_TYPE, (name) => {
      if (!NAME.test(name)) {
        throw new ArmError(400, 'InvalidResourceName', `The resource name '${name}' is invalid.`);
      }
    });
    const identity = await identityAfterWrite(context, id, existing?.identity, input.identity);
    const properties = isObject(input.properties) ? input.properties : {};
    const primary = properties.primaryUserAssignedIdentity;
    if (
      typeof primary === 'string' &&
      !Object.keys((identity?.userAssignedIdentities as object | undefined) ?? {}).some(
        (k) => k.toLowerCase() === primary.toLowerCase(),
      )
    ) {
      throw new ArmError(
        400,
        'ValidationError',
        `The primary user assigned identity '${primary}' is not one of the workspace's user assigned identities.`,
      );
    }
    const resource = await writeResource(context, {
      id,
      type: WORKSPACE_TYPE,
      subscriptionId: params.subscriptionId!,
      group: rg,
      name: params.name!,
      existing,
      input,
      identity,
      properties: {
        friendlyName: params.name,
        ...properties,
        workspaceId: existing?.properties.workspaceId ?? randomUUID(),
        provisioningState: 'Succeeded',
      },
    });
    reply.code(existing ? 200 : 201);
    return resourceToArm(resource);
  });

  router.add('DELETE', `${workspaces}/:name`, async ({ caller, params, reply }) => {
    const id = resourceId(
      params.subscriptionId!,
      params.resourceGroup!,
      WORKSPACE_TYPE,
      params.name!,
    );
    await auth.authorize(caller, `${WORKSPACE_TYPE}/delete`, id);
    // Its jobs and environments go with it.
    for (const type of [JOB_TYPE, ENVIRONMENT_VERSION_TYPE]) {
      const children = await controlPlane.listResources({
        subscriptionId: params.subscriptionId!,
        resourceGroup: params.resourceGroup!,
        type,
      });
      for (const child of children) {
        if (!child.id.toLowerCase().startsWith(`${id.toLowerCase()}/`)) continue;
        if (type === JOB_TYPE) await mlJobs.forget(child.id);
        await controlPlane.deleteResource(child.id);
      }
    }
    await context.identity.removeIdentityOf(id);
    reply.code((await controlPlane.deleteResource(id)) ? 200 : 204);
    return '';
  });

  // Environment versions: a custom image for jobs.
  const version = `${workspace}/environments/:environment/versions/:version`;
  const versionId = (p: Record<string, string>) =>
    resourceId(
      p.subscriptionId!,
      p.resourceGroup!,
      ENVIRONMENT_VERSION_TYPE,
      `${p.workspace}/${p.environment}/${p.version}`,
    );
  router.add('PUT', version, async ({ caller, params, body, reply }) => {
    const id = versionId(params);
    await auth.authorize(caller, `${WORKSPACE_TYPE}/environments/versions/write`, id);
    const ws = await requireWorkspace(context, params);
    const input = isObject(body) ? body : {};
    const properties = isObject(input.properties) ? input.properties : {};
    if (typeof properties.image !== 'string' || properties.image === '') {
      throw userError(
        "An environment version needs 'properties.image' (a custom container image).",
      );
    }
    const existing = await controlPlane.getResource(id);
    const resource = await writeResource(context, {
      id,
      type: ENVIRONMENT_VERSION_TYPE,
      subscriptionId: params.subscriptionId!,
      group: { name: params.resourceGroup!, location: ws.location },
      location: ws.location ?? context.defaultLocation,
      name: `${params.environment}/${params.version}`,
      existing,
      input,
      properties: {
        ...properties,
        osType: properties.osType ?? 'Linux',
        provisioningState: 'Succeeded',
      },
    });
    reply.code(existing ? 200 : 201);
    return resourceToArm(resource);
  });
  router.add('GET', version, async ({ caller, params }) => {
    const id = versionId(params);
    await auth.authorize(caller, `${WORKSPACE_TYPE}/environments/versions/read`, id);
    const resource = await controlPlane.getResource(id);
    if (!resource)
      throw armErrors.notFound(
        ENVIRONMENT_VERSION_TYPE,
        `${params.workspace}/${params.environment}/${params.version}`,
        params.resourceGroup!,
      );
    return resourceToArm(resource);
  });

  // Command jobs.
  const jobs = `${workspace}/jobs`;
  const jobId = (p: Record<string, string>) =>
    resourceId(p.subscriptionId!, p.resourceGroup!, JOB_TYPE, `${p.workspace}/${p.name}`);
  const requireJob = async ({ caller, params: p }: ArmRequestContext, action: string) => {
    const id = jobId(p);
    await auth.authorize(caller, action, id);
    const job = await controlPlane.getResource(id);
    if (!job) throw armErrors.notFound(JOB_TYPE, `${p.workspace}/${p.name}`, p.resourceGroup!);
    return job;
  };

  router.add('PUT', `${jobs}/:name`, async (request) => {
    const { params, body, reply } = request;
    const id = jobId(params);
    await auth.authorize(request.caller, `${JOB_TYPE}/write`, id);
    const ws = await requireWorkspace(context, params);
    if (!NAME.test(params.name!)) throw userError(`The job name '${params.name}' is invalid.`);
    if (await controlPlane.getResource(id)) {
      throw userError(
        `A job named '${params.name}' already exists in workspace '${ws.name}'.`,
        409,
      );
    }
    const input = isObject(body) ? body : {};
    const properties = isObject(input.properties) ? input.properties : {};
    const spec = await jobSpec(context, id, ws, properties);
    // Leased before it is stored, so a job is never left without a holder. Another replica
    // taking the lease over (this one stalled past it, and failed the job) stops it here.
    const claim = await workLeases.claim(id, () => mlJobs.cancel(id));
    if (!claim) throw userError(`The job '${params.name}' is being created.`, 409);
    const record = await writeResource(context, {
      id,
      type: JOB_TYPE,
      subscriptionId: params.subscriptionId!,
      group: { name: params.resourceGroup!, location: ws.location },
      location: ws.location ?? context.defaultLocation,
      name: params.name!,
      existing: undefined,
      input: { ...input, location: undefined },
      properties: { ...properties, jobType: 'Command', status: 'NotStarted' },
    }).catch(async (error: unknown) => {
      await claim.release();
      throw error;
    });
    // The job runs on this replica; a cancel or delete may arrive at another one, which records
    // it on the job (CancelRequested) or removes the job: this replica acts on what it reads.
    const stopIfAsked = (job: ResourceRecord | undefined) => {
      if (!job || job.properties.status === CANCEL_REQUESTED) mlJobs.cancel(id);
    };
    const watch = setInterval(() => {
      controlPlane.getResource(id).then(stopIfAsked, () => undefined);
    }, CANCEL_POLL_MS);
    watch.unref();
    let reports = Promise.resolve();
    mlJobs.start(spec, (view: MlJobView) => {
      reports = reports.then(async () => {
        if (TERMINAL.has(view.status)) clearInterval(watch);
        const { error, ...rest } = view;
        // Compare-and-set over what is stored now: an ended job stays as it ended, and a
        // requested cancel is not overwritten by the job's progress.
        const stored = await controlPlane.updateResourceProperties(id, (current) => {
          if (TERMINAL.has(String(current.status))) return undefined;
          const status =
            current.status === CANCEL_REQUESTED && !TERMINAL.has(view.status)
              ? CANCEL_REQUESTED
              : view.status;
          return { ...current, ...rest, status, ...(error ? { error } : {}) };
        });
        stopIfAsked(stored);
        if (TERMINAL.has(view.status)) await claim.release();
      });
      return reports.catch(() => undefined);
    });
    reply.code(201);
    return resourceToArm(record);
  });

  router.add('GET', jobs, async ({ caller: who, params }) => {
    const ws = await requireWorkspace(context, params);
    await auth.authorize(who, `${JOB_TYPE}/read`, ws.id);
    const all = await controlPlane.listResources({
      subscriptionId: params.subscriptionId!,
      resourceGroup: params.resourceGroup!,
      type: JOB_TYPE,
    });
    return {
      value: all
        .filter((j) => j.id.toLowerCase().startsWith(`${ws.id.toLowerCase()}/`))
        .map(resourceToArm),
    };
  });

  router.add('GET', `${jobs}/:name`, async (request) => {
    return resourceToArm(await requireJob(request, `${JOB_TYPE}/read`));
  });

  router.add('POST', `${jobs}/:name/cancel`, async (request) => {
    const job = await requireJob(request, `${JOB_TYPE}/write`);
    if (!TERMINAL.has(String(job.properties.status))) {
      // Recorded for the replica running the job (maybe another one), and acted on here if here.
      await controlPlane.updateResourceProperties(job.id, (current) =>
        TERMINAL.has(String(current.status)) ? undefined : { ...current, status: CANCEL_REQUESTED },
      );
      mlJobs.cancel(job.id);
    }
    request.reply.code(202);
    return '';
  });

  router.add('GET', `${jobs}/:name/logs`, async (request) => {
    const job = await requireJob(request, `${JOB_TYPE}/read`);
    return { content: mlJobs.logsOf(job.id) ?? '' };
  });

  router.add('GET', `${jobs}/:name/outputs/:output`, async (request) => {
    const job = await requireJob(request, `${JOB_TYPE}/read`);
    const output = request.params.output!;
    if (!isObject(job.properties.outputs) || !(output in job.properties.outputs)) {
      throw userError(`The job '${job.name}' has no output '${output}'.`, 404);
    }
    const path = request.query.get('path');
    if (path === null) return { value: await mlJobs.outputFiles(job.id, output) };
    const content = await mlJobs.outputFile(job.id, output, path);
    if (!content)
      throw userError(`The output '${output}' of job '${job.name}' has no file '${path}'.`, 404);
    return { path, content: content.toString('utf8') };
  });
}

/** The runnable spec of a command job's properties, checked as Azure ML checks them. */
async function jobSpec(
  context: ManagementContext,
  id: string,
  workspace: ResourceRecord,
  properties: Record<string, unknown>,
): Promise<MlJobSpec> {
  if ((properties.jobType ?? 'Command') !== 'Command') {
    throw userError(
      `Only command jobs are supported; got jobType '${String(properties.jobType)}'.`,
    );
  }
  if (typeof properties.command !== 'string' || properties.command.trim() === '') {
    throw userError("A command job needs 'properties.command'.");
  }
  if (typeof properties.environmentId !== 'string' || properties.environmentId === '') {
    throw userError("A command job needs 'properties.environmentId'.");
  }
  const environment = await context.controlPlane.getResource(
    environmentVersionId(workspace, properties.environmentId),
  );
  if (!environment) {
    throw userError(
      `The environment '${properties.environmentId}' was not found in workspace '${workspace.name}'.`,
      404,
    );
  }
  const inputs: Record<string, string> = {};
  for (const [name, value] of Object.entries(
    isObject(properties.inputs) ? properties.inputs : {},
  )) {
    if (!isObject(value) || value.jobInputType !== 'literal') {
      throw userError(
        `The input '${name}' must be a literal input ({"jobInputType": "literal", "value": ...}).`,
      );
    }
    inputs[name] = String(value.value ?? '');
  }
  const outputs: string[] = [];
  for (const [name, value] of Object.entries(
    isObject(properties.outputs) ? properties.outputs : {},
  )) {
    if (!isObject(value) || (value.jobOutputType ?? 'uri_folder') !== 'uri_folder') {
      throw userError(`The output '${name}' must be a uri_folder output.`);
    }
    if (!/^[\w-]+$/.test(name)) throw userError(`The output name '${name}' is invalid.`);
    outputs.push(name);
  }
  const variables: Record<string, string> = {};
  for (const [name, value] of Object.entries(
    isObject(properties.environmentVariables) ? properties.environmentVariables : {},
  )) {
    variables[name] = String(value);
  }
  return {
    id,
    workspaceId: workspace.id,
    identity: pullIdentity(workspace),
    image: String(environment.properties.image),
    command: properties.command,
    environmentVariables: variables,
    inputs,
    outputs,
  };
}

/** `environmentId` as a full id, or `azureml:name:version` within the workspace. */
function environmentVersionId(workspace: ResourceRecord, environmentId: string): string {
  const short = /^azureml:([\w.-]+):([\w.-]+)$/.exec(environmentId);
  if (short) return `${workspace.id}/environments/${short[1]}/versions/${short[2]}`;
  const parsed = parseResourceId(environmentId);
  return parsed ? environmentId : `${workspace.id}/environments/${environmentId}`;
}
