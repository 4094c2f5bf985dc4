/**
 * @module management/management-plugin
 * The management listener's routes: the identity service (OIDC, tokens, JWKS), the Graph subset,
 * ARM's cloud metadata, and the ARM API itself. ARM requests go through one dispatcher that
 * requires an api-version, authenticates the caller, then routes (case-insensitively).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { identityRoutes, type SigningKeys } from '../identity/index.js';
import { ArmAuth } from './arm-auth.js';
import { ArmError, sendArmError } from './arm-errors.js';
import { ArmRouter } from './arm-router.js';
import { requireApiVersion } from './api-versions.js';
import type { ManagementContext } from './context.js';
import { graphRoutes } from './graph-routes.js';
import { registerAccessRoutes } from './routes/access.js';
import { registerScanRoutes } from './routes/scans.js';
import { registerAuthorizationRoutes } from './routes/authorization.js';
import { registerNetworkingRoutes } from './routes/networking.js';
import { registerIdentityRoutes } from './routes/identities.js';
import { registerImportRoutes } from './routes/import.js';
import { registerContainerGroupRoutes } from './routes/container-groups.js';
import { registerMlWorkspaceRoutes } from './routes/ml-workspaces.js';
import { registerRegistryRoutes } from './routes/registries.js';
import { registerRepositoryRoutes } from './routes/repositories.js';
import { registerSubscriptionRoutes } from './routes/subscriptions.js';
import { registerTaskRoutes } from './routes/tasks.js';
import { registerTokenRoutes } from './routes/tokens.js';

export interface ManagementPluginOptions {
  context: ManagementContext;
  identityKeys: SigningKeys;
}

/** Every ARM route, registered on one router. */
export function buildArmRouter(context: ManagementContext): ArmRouter {
  const router = new ArmRouter();
  registerSubscriptionRoutes(router, context);
  registerRegistryRoutes(router, context);
  registerRepositoryRoutes(router, context);
  registerAuthorizationRoutes(router, context);
  registerIdentityRoutes(router, context);
  registerTokenRoutes(router, context);
  registerAccessRoutes(router, context);
  registerScanRoutes(router, context);
  registerNetworkingRoutes(router, context);
  registerImportRoutes(router, context);
  registerContainerGroupRoutes(router, context);
  registerMlWorkspaceRoutes(router, context);
  registerTaskRoutes(router, context);
  return router;
}

export async function managementPlugin(
  app: FastifyInstance,
  options: ManagementPluginOptions,
): Promise<void> {
  const { context, identityKeys } = options;
  const auth = context.auth;

  await app.register(identityRoutes, {
    identity: context.identity,
    keys: identityKeys,
    authority: () => context.managementUrl,
  });
  await app.register(graphRoutes, { context, auth });

  // Cloud metadata: lets `az cloud register --endpoint-resource-manager <url>` fill in the rest.
  app.get('/metadata/endpoints', async () => ({
    galleryEndpoint: `${context.managementUrl}/`,
    graphEndpoint: `${context.managementUrl}/`,
    portalEndpoint: `${context.managementUrl}/`,
    graphAudience: `${context.managementUrl}/`,
    microsoftGraphResourceId: `${context.managementUrl}/`,
    name: 'Breakwater',
    suffixes: { acrLoginServer: `.${context.loginServerSuffix}` },
    authentication: {
      loginEndpoint: `${context.managementUrl}/adfs`,
      audiences: context.identity.audiences.arm,
      tenant: 'adfs',
      identityProvider: 'ADFS',
    },
  }));

  const router = buildArmRouter(context);

  async function dispatch(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const url = new URL(request.url, 'https://management.invalid');
    // ARM answers a missing token before anything else, api-version included.
    const caller = await auth.authenticate(request);
    const apiVersion = requireApiVersion(url.searchParams);
    const match = router.match(request.method, url.pathname);
    if (!match) {
      throw new ArmError(404, 'NotFound', `No route matches '${request.method} ${url.pathname}'.`);
    }
    reply.header('x-ms-request-id', request.id);
    let result: unknown;
    try {
      result = await match.route.handler({
        caller,
        request,
        reply,
        params: match.params,
        scope: match.scope,
        query: url.searchParams,
        apiVersion,
        body: request.body,
      });
    } catch (error) {
      // No existence oracle: an unauthorized caller gets 403 whether or not the thing exists.
      if (error instanceof ArmError && error.status === 404) {
        await auth.beforeNotFound(caller, request.method, url.pathname);
      }
      throw error;
    }
    if (result === '' || result === undefined) return reply.send();
    return reply.send(result);
  }

  await app.register(async (arm) => {
    arm.setErrorHandler((error, request, reply) => sendArmError(error, request, reply));
    // Tools POST actions (listCredentials) with an empty JSON body: that is no body, not an error.
    arm.removeContentTypeParser('application/json');
    arm.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
      if (text === '' || text === undefined) return done(null, undefined);
      try {
        done(null, JSON.parse(text as string));
      } catch {
        done(
          new ArmError(
            400,
            'InvalidRequestContent',
            'The request content was invalid and could not be deserialized.',
          ),
          undefined,
        );
      }
    });
    // Build source uploads stream to disk (listBuildSourceUploadUrl): the body stays a stream.
    arm.addContentTypeParser(
      ['application/octet-stream', 'application/gzip', 'application/x-gzip', 'application/x-tar'],
      (_request, payload, done) => done(null, payload),
    );
    arm.setNotFoundHandler((request, reply) =>
      sendArmError(
        new ArmError(
          404,
          'NotFound',
          `No route matches '${request.method} ${request.url.split('?')[0]}'.`,
        ),
        request,
        reply,
      ),
    );
    const methods = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'];
    for (const url of ['/subscriptions', '/subscriptions/*', '/tenants', '/providers/*']) {
      arm.route({ method: methods, url, handler: dispatch, exposeHeadRoute: false });
    }
  });
}

export { ArmAuth };
