/**
 * @module management/graph-routes
 * The Microsoft Graph subset that `az role assignment create` uses to resolve an assignee:
 * service principals by name, users (none here), and `directoryObjects/getByIds`.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthenticatedPrincipal } from '../identity/index.js';
import type { PrincipalRecord } from '../metadata/index.js';
import type { ArmAuth } from './arm-auth.js';
import type { ManagementContext } from './context.js';
import { ArmError, sendArmError } from './arm-errors.js';

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

  /**
   * Creating service principals: one call makes the application and its service principal
   * (Breakwater keeps them as one record), then addPassword mints a secret shown only once.
   * Directory writes need Owner on a subscription of the caller's tenant.
   */
  async function requireDirectoryWriter(request: FastifyRequest): Promise<AuthenticatedPrincipal> {
    const caller = await auth.authenticate(request);
    for (const subscription of await context.controlPlane.listSubscriptions()) {
      if (subscription.tenantId !== caller.principal.tenantId) continue;
      if (
        await auth.isAllowed(
          caller,
          'Microsoft.Authorization/roleAssignments/write',
          `/subscriptions/${subscription.id}`,
        )
      ) {
        return caller;
      }
    }
    throw new ArmError(
      403,
      'Authorization_RequestDenied',
      'Insufficient privileges to complete the operation.',
    );
  }

  app.post<{ Body: { displayName?: string } }>(
    '/v1.0/servicePrincipals',
    async (request, reply) => {
      const caller = await requireDirectoryWriter(request);
      const displayName = request.body?.displayName;
      if (
        typeof displayName !== 'string' ||
        displayName.trim() === '' ||
        displayName.length > 256
      ) {
        throw new ArmError(
          400,
          'Request_BadRequest',
          "Property 'displayName' is required (1-256 characters).",
        );
      }
      const principal = await context.controlPlane.createPrincipal({
        objectId: randomUUID(),
        tenantId: caller.principal.tenantId,
        appId: randomUUID(),
        kind: 'ServicePrincipal',
        displayName,
        resourceId: null,
      });
      reply.code(201);
      return principalToGraph(principal);
    },
  );

  app.post<{
    Params: { id: string };
    Body: { passwordCredential?: { displayName?: string; endDateTime?: string } };
  }>('/v1.0/servicePrincipals/:id/addPassword', async (request) => {
    await requireDirectoryWriter(request);
    const principal = await context.controlPlane.getPrincipal(request.params.id);
    if (!principal || principal.kind !== 'ServicePrincipal') {
      throw new ArmError(
        404,
        'Request_ResourceNotFound',
        `Resource '${request.params.id}' does not exist.`,
      );
    }
    const end = request.body?.passwordCredential?.endDateTime;
    const days = end ? Math.ceil((Date.parse(end) - Date.now()) / 86_400_000) : 365;
    if (!Number.isFinite(days) || days < 1)
      throw new ArmError(400, 'Request_BadRequest', 'endDateTime must be a future date.');
    const { secret, secretId } = await context.identity.addSecret(principal.objectId, days);
    const stored = await context.controlPlane.getSecret(secretId);
    return {
      keyId: secretId,
      displayName: request.body?.passwordCredential?.displayName ?? null,
      hint: secret.slice(0, 3),
      secretText: secret,
      startDateTime: stored?.createdAt,
      endDateTime: stored?.expiresAt,
    };
  });

  app.post<{ Params: { id: string }; Body: { keyId?: string } }>(
    '/v1.0/servicePrincipals/:id/removePassword',
    async (request, reply) => {
      await requireDirectoryWriter(request);
      const secret = request.body?.keyId
        ? await context.controlPlane.getSecret(request.body.keyId)
        : undefined;
      if (!secret || secret.principalId !== request.params.id.toLowerCase()) {
        throw new ArmError(
          404,
          'Request_ResourceNotFound',
          `No password with keyId '${request.body?.keyId ?? ''}'.`,
        );
      }
      await context.controlPlane.deleteSecret(secret.id);
      reply.code(204);
      return reply.send();
    },
  );

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
