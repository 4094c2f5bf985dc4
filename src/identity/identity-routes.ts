/**
 * @module identity/identity-routes
 * The identity service's HTTP face on the management listener, shaped like Entra ID so MSAL
 * (the az CLI) and the Azure SDKs work unmodified:
 *
 * - OpenID discovery: `/{tenant}/v2.0/.well-known/openid-configuration`, and the ADFS-style
 *   `/adfs/.well-known/openid-configuration` (MSAL skips its hard-coded instance discovery for
 *   ADFS authorities, which is what makes an offline `az login` possible);
 * - the token endpoint (client credentials, form-encoded): `/{tenant}/oauth2/v2.0/token`, the v1
 *   `/{tenant}/oauth2/token` (with `resource`), and `/adfs/oauth2/...` where the tenant comes from
 *   the client id because the CLI drops it from ADFS authorities;
 * - JWKS with key ids: `/{tenant}/discovery/v2.0/keys` (and `/adfs/discovery/keys`);
 * - `/common/discovery/instance`, for clients that still ask for instance discovery.
 */
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { OAuthError, type IdentityService } from './identity-service.js';
import type { SigningKeys } from './signing-keys.js';

export interface IdentityRoutesOptions {
  identity: IdentityService;
  keys: SigningKeys;
  /** Public base URL of the management listener, e.g. `https://127.0.0.1:8443` (read per request). */
  authority: () => string;
}

type TokenForm = Record<string, string | undefined>;

export async function identityRoutes(
  app: FastifyInstance,
  options: IdentityRoutesOptions,
): Promise<void> {
  const { identity, keys } = options;
  const authority = () => options.authority();
  await app.register(formbody);

  function discovery(base: string, tenantSegment: string) {
    return {
      issuer: `${authority()}/${tenantSegment}/v2.0`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      response_types_supported: ['token'],
      grant_types_supported: ['client_credentials'],
      id_token_signing_alg_values_supported: ['ES256'],
      subject_types_supported: ['pairwise'],
      scopes_supported: ['openid'],
      tenant_region_scope: null,
      cloud_instance_name: 'breakwater',
    };
  }

  app.get<{ Params: { tenant: string } }>(
    '/:tenant/v2.0/.well-known/openid-configuration',
    async (request) => discovery(`${authority()}/${request.params.tenant}`, request.params.tenant),
  );
  app.get<{ Params: { tenant: string } }>(
    '/:tenant/.well-known/openid-configuration',
    async (request) => discovery(`${authority()}/${request.params.tenant}`, request.params.tenant),
  );
  app.get('/adfs/.well-known/openid-configuration', async () => ({
    ...discovery(`${authority()}/adfs`, '{tenantid}'),
    issuer: `${authority()}/adfs`,
    jwks_uri: `${authority()}/adfs/discovery/keys`,
  }));
  app.get('/common/discovery/instance', async () => ({
    tenant_discovery_endpoint: `${authority()}/common/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [],
  }));

  const jwks = async () => keys.jwks();
  app.get('/:tenant/discovery/v2.0/keys', jwks);
  app.get('/:tenant/discovery/keys', jwks);
  app.get('/adfs/discovery/keys', jwks);

  async function token(form: TokenForm, tenant: string | undefined, reply: FastifyReply) {
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    try {
      if (form.grant_type !== 'client_credentials') {
        throw new OAuthError(
          400,
          'unsupported_grant_type',
          `AADSTS70003: The app requested an unsupported grant type '${form.grant_type ?? ''}'. Only client_credentials is supported.`,
        );
      }
      if (!form.client_id || !form.client_secret) {
        throw new OAuthError(
          400,
          'invalid_request',
          "AADSTS900144: The request body must contain the following parameter: 'client_id' and 'client_secret'.",
        );
      }
      const scope = form.scope ?? (form.resource ? `${form.resource}/.default` : undefined);
      if (!scope) {
        throw new OAuthError(
          400,
          'invalid_request',
          "AADSTS900144: The request body must contain the following parameter: 'scope'.",
        );
      }
      return await identity.clientCredentials({
        clientId: form.client_id.toLowerCase(),
        clientSecret: form.client_secret,
        scope,
        ...(tenant ? { tenant: tenant.toLowerCase() } : {}),
      });
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      return reply.code(error.status).send({
        error: error.error,
        error_description: error.description,
        error_codes: [Number(/AADSTS(\d+)/.exec(error.description)?.[1] ?? 0)],
        timestamp: new Date().toISOString(),
      });
    }
  }

  const withBasicClient = (form: TokenForm, authorization: string | undefined): TokenForm => {
    // client_secret_basic: credentials in the Authorization header instead of the form.
    if (!authorization?.startsWith('Basic ')) return form;
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return form;
    return {
      ...form,
      client_id: decodeURIComponent(decoded.slice(0, colon)),
      client_secret: decodeURIComponent(decoded.slice(colon + 1)),
    };
  };

  for (const path of ['/:tenant/oauth2/v2.0/token', '/:tenant/oauth2/token']) {
    app.post<{ Params: { tenant: string }; Body: TokenForm }>(path, async (request, reply) =>
      token(
        withBasicClient(request.body ?? {}, request.headers.authorization),
        request.params.tenant === 'adfs' ? undefined : request.params.tenant,
        reply,
      ),
    );
  }
  for (const path of ['/adfs/oauth2/v2.0/token', '/adfs/oauth2/token']) {
    app.post<{ Body: TokenForm }>(path, async (request, reply) =>
      token(withBasicClient(request.body ?? {}, request.headers.authorization), undefined, reply),
    );
  }
}
