/**
 * @module management/routes/container-groups
 * `Microsoft.ContainerInstance/containerGroups`: a PUT validates the group (ACI's error codes),
 * stores it with its identity, and deploys it: every image is resolved with the group's
 * credential before the PUT answers (`InaccessibleImage`, and nothing stays behind), then the
 * containers are unpacked and run by the container host, whose states and events land in the
 * group's `instanceView`. Registry passwords are never stored: the running deployment holds
 * them, and GET shows the credentials without them, as ACI does. Logs: `.../containers/{c}/logs`.
 */
import type { ResourceRecord } from '../../metadata/index.js';
import { isObject } from '../../core/json.js';
import {
  ImagePullError,
  type ContainerGroupSpec,
  type GroupView,
  type ImageRegistryCredential,
} from '../../services/index.js';
import { ArmError, armErrors } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { identityAfterWrite } from '../managed-identity.js';
import { resourceId } from '../resource-id.js';
import { beginResourcePut, registerResourceReads, writeResource } from './resource-reads.js';
import { resourceToArm } from './subscriptions.js';

export const CONTAINER_GROUP_TYPE = 'Microsoft.ContainerInstance/containerGroups';
const GROUP = '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers';
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'] as const;
export const REPLICA_STOPPED = 'The replica running the container group stopped.';
/** How often a deployment looks for a delete or redeployment made through another replica. */
const REPLACED_POLL_MS = 1000;

function invalid(code: string, message: string): ArmError {
  return new ArmError(400, code, message);
}

/** The deployable spec of a PUT body, checked as ACI checks it. */
function parseGroup(
  id: string,
  name: string,
  properties: Record<string, unknown>,
  identity: Record<string, unknown> | null,
): ContainerGroupSpec {
  const containers = Array.isArray(properties.containers) ? properties.containers : [];
  if (containers.length === 0) {
    throw invalid(
      'InvalidContainerGroup',
      `The container group '${name}' must have at least one container.`,
    );
  }
  const specs = containers.map((entry) => {
    const container = isObject(entry) ? entry : {};
    const props = isObject(container.properties) ? container.properties : {};
    if (typeof container.name !== 'string' || !NAME.test(container.name)) {
      throw invalid(
        'InvalidContainerName',
        `The container name '${String(container.name)}' in container group '${name}' is invalid.`,
      );
    }
    if (typeof props.image !== 'string' || props.image === '') {
      throw invalid(
        'InvalidImage',
        `The container '${container.name}' in container group '${name}' has no image.`,
      );
    }
    const environment: Record<string, string> = {};
    for (const variable of Array.isArray(props.environmentVariables)
      ? props.environmentVariables
      : []) {
      if (isObject(variable) && typeof variable.name === 'string') {
        environment[variable.name] = String(variable.secureValue ?? variable.value ?? '');
      }
    }
    const command = Array.isArray(props.command) ? props.command.map(String) : undefined;
    return {
      name: container.name,
      image: props.image,
      environment,
      ...(command ? { command } : {}),
    };
  });
  const credentials: ImageRegistryCredential[] = [];
  for (const entry of Array.isArray(properties.imageRegistryCredentials)
    ? properties.imageRegistryCredentials
    : []) {
    const credential = isObject(entry) ? entry : {};
    if (typeof credential.server !== 'string' || credential.server === '') {
      throw invalid(
        'InvalidImageRegistryServer',
        `An image registry credential of container group '${name}' has no server.`,
      );
    }
    const identityRef = typeof credential.identity === 'string' ? credential.identity : undefined;
    const username = typeof credential.username === 'string' ? credential.username : undefined;
    if (identityRef && username !== undefined) {
      throw invalid(
        'AmbiguousImageResitryCredentialType',
        `The image registry credential type of container group '${name}' cannot be detected. Please set exactly one of username or identity.`,
      );
    }
    if (identityRef && !hasIdentity(identity, identityRef)) {
      throw invalid(
        'InvalidImageRegistryIdentity',
        `The identity in the 'imageRegistryCredentials' of container group '${name}' not found in container group identity list.`,
      );
    }
    credentials.push({
      server: credential.server,
      ...(identityRef ? { identity: identityRef } : {}),
      ...(username !== undefined ? { username, password: String(credential.password ?? '') } : {}),
    });
  }
  const policy = properties.restartPolicy ?? 'Always';
  const restartPolicy = RESTART_POLICIES.find(
    (p) => p.toLowerCase() === String(policy).toLowerCase(),
  );
  if (!restartPolicy) {
    throw invalid(
      'InvalidRestartPolicy',
      `The restart policy '${String(policy)}' is not valid. Allowed values: ${RESTART_POLICIES.join(', ')}.`,
    );
  }
  return { id, name, containers: specs, credentials, restartPolicy };
}

function hasIdentity(identity: Record<string, unknown> | null, wanted: string): boolean {
  if (!identity) return false;
  const type = String(identity.type ?? '');
  if (wanted === '[system]' || wanted === 'system') return type.includes('SystemAssigned');
  const attached = isObject(identity.userAssignedIdentities) ? identity.userAssignedIdentities : {};
  return Object.entries(attached).some(
    ([id, value]) =>
      id.toLowerCase() === wanted.toLowerCase() ||
      (isObject(value) && String(value.clientId).toLowerCase() === wanted.toLowerCase()),
  );
}

/** The group as stored: its properties with the deployment's view, passwords removed. */
function storedProperties(
  properties: Record<string, unknown>,
  spec: ContainerGroupSpec,
  provisioningState: string,
  view: GroupView,
): Record<string, unknown> {
  const containers = (properties.containers as Record<string, unknown>[]).map((container) => {
    const props = isObject(container.properties) ? container.properties : {};
    const variables = Array.isArray(props.environmentVariables) ? props.environmentVariables : [];
    return {
      ...container,
      properties: {
        ...props,
        // ACI never shows a secure value back.
        environmentVariables: variables.map((v) =>
          isObject(v) && 'secureValue' in v ? { name: v.name } : v,
        ),
        instanceView: view.containers[String(container.name)],
      },
    };
  });
  return {
    ...properties,
    containers,
    imageRegistryCredentials: spec.credentials.map(({ password: _omitted, ...shown }) => shown),
    restartPolicy: spec.restartPolicy,
    osType: properties.osType ?? 'Linux',
    provisioningState,
    instanceView: { state: view.state, events: [] },
  };
}

export function registerContainerGroupRoutes(router: ArmRouter, context: ManagementContext): void {
  const { auth, controlPlane, containers, workLeases } = context;
  // A group whose replica died (its lease expired) has no containers any more: it shows stopped.
  workLeases.onAbandoned(CONTAINER_GROUP_TYPE, async (id) => {
    await controlPlane.updateResourceProperties(id, (current) => ({
      ...current,
      instanceView: {
        state: 'Stopped',
        events: [{ type: 'Warning', name: 'ReplicaStopped', message: REPLICA_STOPPED }],
      },
    }));
  });
  const base = `${GROUP}/${CONTAINER_GROUP_TYPE}`;
  registerResourceReads(router, context, CONTAINER_GROUP_TYPE);

  router.add('PUT', `${base}/:name`, async (request) => {
    const { params, reply } = request;
    const {
      id,
      group: rg,
      existing,
      input,
    } = await beginResourcePut(context, request, CONTAINER_GROUP_TYPE, (name) => {
      if (!NAME.test(name)) {
        throw invalid(
          'InvalidContainerGroupName',
          `The container group name '${name}' is invalid.`,
        );
      }
    });
    const properties = isObject(input.properties) ? input.properties : {};
    // Validate against the identity asked for before anything is created.
    const requestedIdentity = isObject(input.identity)
      ? input.identity
      : (existing?.identity ?? null);
    parseGroup(id, params.name!, properties, requestedIdentity);

    const identity = await identityAfterWrite(context, id, existing?.identity, input.identity);
    const spec = parseGroup(id, params.name!, properties, identity);
    const pending: GroupView = { state: 'Pending', containers: {} };
    const write = (props: Record<string, unknown>) =>
      writeResource(context, {
        id,
        type: CONTAINER_GROUP_TYPE,
        subscriptionId: params.subscriptionId!,
        group: rg,
        name: params.name!,
        existing,
        input,
        identity,
        properties: props,
      });
    // Stored first: the identity's token is served only for a resource that declares it.
    await write(storedProperties(properties, spec, 'Creating', pending));
    let pulled;
    try {
      pulled = await containers.pull(spec);
    } catch (error) {
      // Nothing stays behind: the previous group (or none, and no new identity) is restored.
      if (existing) await controlPlane.putResource(existing);
      else {
        await context.identity.removeIdentityOf(id);
        await controlPlane.deleteResource(id);
      }
      if (error instanceof ImagePullError) {
        throw invalid(
          'InaccessibleImage',
          `The image '${error.image}' in container group '${params.name}' is not accessible. Please check the image and registry credential.`,
        );
      }
      throw error;
    }
    // Stopped by whichever comes first: a delete or new deployment (seen by the reports or the
    // watch), or another replica taking the lease over (this one stalled past it).
    let stopped = false;
    let stop: () => void = () => undefined;
    let watch: NodeJS.Timeout | undefined = undefined;
    const stopDeployment = () => {
      stopped = true;
      clearInterval(watch);
      stop();
      void claim.release().catch(() => undefined);
    };
    // Leased while its containers run here, replacing an earlier deployment's lease (whose
    // replica stops that deployment when it sees this one).
    const claim = (await workLeases.claim(id, stopDeployment, true))!;
    const record = await write(storedProperties(properties, spec, 'Succeeded', pending)).catch(
      async (error: unknown) => {
        await claim.release();
        throw error;
      },
    );
    // This deployment owns the record while nobody else writes it: each report is written over
    // the version this deployment wrote last (compare-and-set). Any other write is a delete or
    // a new deployment (through this replica or another): this one's containers stop then.
    let written = record.version;
    let reports = Promise.resolve();
    stop = containers.start(spec, pulled, (view) => {
      reports = reports.then(async () => {
        const stored = await controlPlane.replaceResource(
          { ...record, properties: storedProperties(properties, spec, 'Succeeded', view) },
          written,
        );
        if (!stored) return stopDeployment();
        written = stored.version;
        if (['Succeeded', 'Failed', 'Stopped'].includes(view.state)) {
          clearInterval(watch);
          await claim.release();
        }
      });
      return reports.catch(() => undefined);
    });
    if (stopped) stop();
    // A delete or redeployment through another replica, while no container changes state
    // (in turn with the reports, so this deployment's own write is never taken for another's).
    watch = setInterval(() => {
      reports = reports
        .then(async () => {
          if ((await controlPlane.getResource(id))?.version !== written) stopDeployment();
        })
        .catch(() => undefined);
    }, REPLACED_POLL_MS);
    watch.unref();
    if (stopped) clearInterval(watch);
    reply.code(existing ? 200 : 201);
    return resourceToArm(record);
  });

  router.add('DELETE', `${base}/:name`, async ({ caller, params, reply }) => {
    const id = resourceId(
      params.subscriptionId!,
      params.resourceGroup!,
      CONTAINER_GROUP_TYPE,
      params.name!,
    );
    await auth.authorize(caller, `${CONTAINER_GROUP_TYPE}/delete`, id);
    const existing = await controlPlane.getResource(id);
    if (!existing) {
      reply.code(204);
      return '';
    }
    containers.forget(id, containerNames(existing));
    await context.identity.removeIdentityOf(id);
    await controlPlane.deleteResource(id);
    reply.code(200);
    return resourceToArm(existing);
  });

  router.add(
    'GET',
    `${base}/:name/containers/:container/logs`,
    async ({ caller, params, query }) => {
      const id = resourceId(
        params.subscriptionId!,
        params.resourceGroup!,
        CONTAINER_GROUP_TYPE,
        params.name!,
      );
      await auth.authorize(caller, `${CONTAINER_GROUP_TYPE}/containers/logs/read`, id);
      const group = await controlPlane.getResource(id);
      if (!group)
        throw armErrors.notFound(CONTAINER_GROUP_TYPE, params.name!, params.resourceGroup!);
      if (!containerNames(group).includes(params.container!)) {
        throw new ArmError(
          404,
          'ContainerNotFound',
          `The container '${params.container}' is not found in container group '${group.name}'.`,
        );
      }
      let content = containers.logsOf(id, params.container!) ?? '';
      const tail = Number(query.get('tail'));
      if (Number.isInteger(tail) && tail > 0) {
        const lines = content.split('\n');
        const trailing = content.endsWith('\n') ? 1 : 0;
        content = lines.slice(-(tail + trailing)).join('\n');
      }
      return { content };
    },
  );
}

function containerNames(group: ResourceRecord): string[] {
  const list = Array.isArray(group.properties.containers) ? group.properties.containers : [];
  return list.map((c) => (isObject(c) ? String(c.name) : ''));
}
