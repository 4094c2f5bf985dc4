/**
 * @module management/routes/access
 * The owner's view of access decisions: the audit trail of a registry with filters
 * (`accessDecisions`), and `checkAccess`, which explains with the deciding code what the
 * registry would make of a source address and principal, and what to change; and
 * `clientAddress`, the caller's address as the server resolves it (trusted proxies included),
 * which the portal offers as a firewall rule ("Add your client IP address").
 */
import type { DataPrincipal } from '../../access/index.js';
import { ArmError } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { REGISTRY_TYPE } from '../registry-resource.js';
import { authorizedRegistry } from './registries.js';
import { isObject } from '../../core/json.js';

const BASE =
  '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers/Microsoft.ContainerRegistry/registries/:name';

function isoOrUndefined(value: string | null, name: string): string | undefined {
  if (value === null) return undefined;
  if (Number.isNaN(Date.parse(value)))
    throw new ArmError(400, 'InvalidRequestContent', `'${name}' must be an ISO 8601 time.`);
  return new Date(value).toISOString();
}

export function registerAccessRoutes(router: ArmRouter, context: ManagementContext): void {
  router.add('GET', `${BASE}/accessDecisions`, async ({ caller, params, apiVersion, query }) => {
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${REGISTRY_TYPE}/accessDecisions/read`,
    );
    const result = query.get('result');
    if (result !== null && result !== 'allowed' && result !== 'refused') {
      throw new ArmError(400, 'InvalidRequestContent', "'result' must be 'allowed' or 'refused'.");
    }
    const top = query.get('top');
    if (top !== null && !/^\d{1,4}$/.test(top))
      throw new ArmError(400, 'InvalidRequestContent', "'top' must be 1 to 1000.");
    await context.decider.auditLog.flush();
    const from = isoOrUndefined(query.get('from'), 'from');
    const to = isoOrUndefined(query.get('to'), 'to');
    const principal = query.get('principal') ?? undefined;
    const records = await context.accessLog.query({
      registry: registry.name,
      ...(result ? { result } : {}),
      ...(principal ? { principal } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      ...(top ? { limit: Number(top) } : {}),
    });
    return { value: records };
  });

  router.add('GET', `${BASE}/clientAddress`, async ({ caller, params, apiVersion, request }) => {
    await authorizedRegistry(context, caller, params, apiVersion, `${REGISTRY_TYPE}/read`);
    return {
      ipAddress: context.decider.sourceOf(request.socket.remoteAddress, request.headers),
    };
  });

  router.add('POST', `${BASE}/checkAccess`, async ({ caller, params, apiVersion, body }) => {
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${REGISTRY_TYPE}/read`,
    );
    const input = isObject(body) ? body : {};
    if (typeof input.sourceAddress !== 'string' || input.sourceAddress === '') {
      throw new ArmError(
        400,
        'InvalidRequestContent',
        "'sourceAddress' (the client's IP address) is required.",
      );
    }
    let principal: DataPrincipal | undefined;
    if (typeof input.principalId === 'string') {
      const record = await context.controlPlane.getPrincipal(input.principalId);
      if (!record)
        throw new ArmError(
          400,
          'PrincipalNotFound',
          `Principal ${input.principalId} does not exist.`,
        );
      principal = {
        subject: { kind: 'aad', id: record.objectId, tenant: record.tenantId },
        via: 'client secret',
      };
    }
    const repository = typeof input.repository === 'string' ? input.repository : undefined;
    const action = typeof input.action === 'string' ? input.action : 'pull';
    if (!['pull', 'push', 'delete'].includes(action))
      throw new ArmError(400, 'InvalidRequestContent', "'action' must be pull, push or delete.");
    return context.decider.explain(
      registry,
      input.sourceAddress,
      principal,
      principal && repository ? { repository, action } : undefined,
    );
  });
}
