/**
 * @module management/graph-routes
 * The Microsoft Graph subset that `az role assignment create` uses to resolve an assignee:
 * service principals by name, users (none here), and `directoryObjects/getByIds`.
 */
import type { FastifyInstance } from 'fastify';
import type { PrincipalRecord } from '../metadata/index.js';
import type { ArmAuth } from './arm-auth.js';
import type { ManagementContext } from './context.js';
import { sendArmError } from './arm-errors.js';

function principalToGraph(principal: PrincipalRecord) {
  return {
    '@odata.type': '#microsoft.graph.servicePrincipal',
    id: principal.objectId,
    appId: principal.appId,
    displayName: principal.displayName,
    servicePrincipalNames: [principal.appId],
    servicePrincipalType: principal.kind === 'ManagedIdentity' ? 'ManagedIdentity' : 'Application',
    appOwnerOrganizationId: principal.tenantId,
  };
}

export async function graphRoutes(
  app: FastifyInstance,
  options: { context: ManagementContext; auth: ArmAuth },
): Promise<void> {
  const { context, auth } = options;
  app.setErrorHandler((error, request, reply) => sendArmError(error, request, reply));
  app.addHook('onRequest', async (request) => {
    await auth.authenticate(request);
  });

  app.get<{ Querystring: { $filter?: string } }>('/v1.0/servicePrincipals', async (request) => {
    const filter = request.query.$filter ?? '';
    const name = /servicePrincipalNames\/any\(\w+:\w+\s+eq\s+'([^']+)'\)/i.exec(filter)?.[1];
    const byAppId = /appId\s+eq\s+'([^']+)'/i.exec(filter)?.[1];
    const wanted = (name ?? byAppId)?.toLowerCase();
    const principals = await context.controlPlane.listPrincipals();
    const value = principals
      .filter((p) => wanted === undefined || p.appId === wanted)
      .map(principalToGraph);
    return { '@odata.context': `${context.managementUrl}/v1.0/$metadata#servicePrincipals`, value };
  });

  app.get<{ Params: { id: string } }>('/v1.0/servicePrincipals/:id', async (request, reply) => {
    const principal = await context.controlPlane.getPrincipal(request.params.id);
    if (!principal) {
      return reply.code(404).send({
        error: {
          code: 'Request_ResourceNotFound',
          message: `Resource '${request.params.id}' does not exist or one of its queried reference-property objects are not present.`,
        },
      });
    }
    return principalToGraph(principal);
  });

  app.get('/v1.0/users', async () => ({ value: [] }));

  app.post<{ Body: { ids?: string[] } }>('/v1.0/directoryObjects/getByIds', async (request) => {
    const value = [];
    for (const id of request.body?.ids ?? []) {
      const principal =
        (await context.controlPlane.getPrincipal(id)) ??
        (await context.controlPlane.getPrincipalByAppId(id));
      if (principal) value.push(principalToGraph(principal));
    }
    return { value };
  });
}
