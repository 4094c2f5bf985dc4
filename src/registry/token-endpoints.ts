/**
 * @module registry/token-endpoints
 * The registry's token endpoints, byte-compatible with ACR:
 *
 * - `POST /oauth2/exchange`  identity-service token -> registry refresh token (`az acr login`)
 * - `GET  /oauth2/token`     Basic credentials (admin user, service principal, or the null GUID
 *                            with a refresh token), or none for anonymous pull -> access token
 * - `POST /oauth2/token`     `grant_type=refresh_token` (or `password`) with scopes -> access token
 *
 * Each passes the access decision's identity stage before a token is minted, and grants only
 * the requested scopes the principal holds right now.
 */
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type {
  AccessDecider,
  DataPrincipal,
  RegistryTokens,
  TokenSubject,
} from '../access/index.js';
import { parseScopes } from '../access/index.js';
import { RegistryError } from '../core/errors.js';
import { PUBLIC_DOOR, type Door } from '../network/index.js';
import type { RegistryRecord } from '../metadata/index.js';
import type { HostResolver } from './host-resolver.js';
import { sendRegistryError } from './errors.js';
import { realmBase } from './request-facts.js';

export interface TokenEndpointOptions {
  /** The listener these routes serve (default: the public endpoint). */
  door?: Door;
  hosts: HostResolver;
  decider: AccessDecider;
  tokens: RegistryTokens;
}

type Form = Record<string, string | string[] | undefined>;

/** The identity stage's answer for a request too malformed to carry a credential. */
const NO_VALID_REQUEST = {
  status: 401 as const,
  code: 'UNAUTHORIZED' as const,
  message: 'malformed token request',
  reason: 'identity: malformed token request',
};

function field(form: Form, name: string): string | undefined {
  const value = form[name];
  return Array.isArray(value) ? value[0] : value;
}

function fields(form: Form, name: string): string[] {
  const value = form[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

export async function tokenEndpoints(
  app: FastifyInstance,
  options: TokenEndpointOptions,
): Promise<void> {
  const { hosts, decider, tokens } = options;
  const door = options.door ?? PUBLIC_DOOR;
  await app.register(formbody, { bodyLimit: 64 * 1024 });
  app.setErrorHandler((error, request, reply) => sendRegistryError(error, request, reply));

  function refuse(
    registry: RegistryRecord,
    request: FastifyRequest,
    refusal: {
      status: number;
      code: 'UNAUTHORIZED' | 'DENIED';
      message: string;
      reason: string;
      detail?: unknown;
    },
    operation: string,
  ): never {
    decider.auditLog.record({
      registry: registry.name,
      door: door.kind === 'private' ? `private endpoint ${door.endpointName}` : 'public',
      source: decider.sourceOf(request.socket.remoteAddress, request.headers),
      operation,
      result: 'refused',
      status: refusal.status,
      reason: refusal.reason,
    });
    throw new RegistryError(refusal.code, refusal.message, {
      status: refusal.status,
      ...(refusal.detail ? { detail: refusal.detail } : {}),
      headers:
        refusal.status === 401
          ? {
              'WWW-Authenticate': decider.challenge(
                { realmBase: realmBase(request), registry },
                { kind: 'authenticated' },
              ),
            }
          : {},
    });
  }

  function allowed(
    registry: RegistryRecord,
    request: FastifyRequest,
    principal: DataPrincipal,
    operation: string,
    detail: string,
  ): void {
    decider.auditLog.record({
      registry: registry.name,
      door: door.kind === 'private' ? `private endpoint ${door.endpointName}` : 'public',
      source: decider.sourceOf(request.socket.remoteAddress, request.headers),
      operation,
      result: 'allowed',
      principal: principal.subject.id,
      reason: `${networkReasons.get(request) ?? 'network: not judged'}; ${detail}`,
    });
  }

  /** The network stage's reason per request, so allowed token decisions carry it too. */
  const networkReasons = new WeakMap<FastifyRequest, string>();

  /** Stage 1 before anything else: a refused network answers 403 whatever the credential. */
  async function networkFirst(
    registry: RegistryRecord,
    request: FastifyRequest,
    identified: Awaited<ReturnType<AccessDecider['identify']>>,
    operation: string,
  ): Promise<void> {
    const source = decider.sourceOf(request.socket.remoteAddress, request.headers);
    const gate = await decider.networkGate(registry, source, identified, door);
    if ('status' in gate) refuse(registry, request, gate, operation);
    networkReasons.set(request, gate.reason);
  }

  /** A token request for another registry's service: answered after the network stage. */
  function serviceProblem(
    registry: RegistryRecord,
    service: string | undefined,
  ): RegistryError | undefined {
    if (service === undefined) return undefined;
    const known = [registry.loginServer, ...registry.aliases].map((h) => h.toLowerCase());
    if (known.includes(service.toLowerCase())) return undefined;
    return new RegistryError(
      'UNAUTHORIZED',
      `the token service '${service}' is not this registry '${registry.loginServer}'`,
      { status: 401 },
    );
  }

  /**
   * Malformed token requests are still judged by the network first: a refused source learns
   * nothing, not even that its request was malformed.
   */
  async function refuseMalformed(
    registry: RegistryRecord,
    request: FastifyRequest,
    error: RegistryError,
    operation: string,
  ): Promise<never> {
    await networkFirst(registry, request, NO_VALID_REQUEST, operation);
    throw error;
  }

  /** Access token for what the principal may do of `scopes`; 401 when nothing asked is allowed. */
  async function issueAccess(
    registry: RegistryRecord,
    request: FastifyRequest,
    principal: DataPrincipal,
    scopes: string[],
    reply: FastifyReply,
    operation: string,
  ) {
    const requested = parseScopes(scopes);
    const granted = await decider.grant(registry, principal, requested);
    if (requested.length > 0 && granted.length === 0) {
      refuse(
        registry,
        request,
        {
          status: 401,
          code: 'UNAUTHORIZED',
          message: 'requested access to the resource is denied',
          reason: `authz: none of ${scopes.join(' ')} is allowed`,
        },
        operation,
      );
    }
    allowed(
      registry,
      request,
      principal,
      operation,
      `granted ${granted.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`).join(' ') || 'login'}`,
    );
    const accessToken = await tokens.accessToken(principal.subject, registry.loginServer, granted);
    reply.header('Cache-Control', 'no-store');
    return { access_token: accessToken };
  }

  app.get<{ Querystring: { service?: string; scope?: string | string[] } }>(
    '/oauth2/token',
    async (request, reply) => {
      const registry = await hosts.forDoor(door, request.headers.host);
      const wrongService = serviceProblem(registry, request.query.service);
      if (wrongService) await refuseMalformed(registry, request, wrongService, 'GET /oauth2/token');
      const scopes = fields(request.query as Form, 'scope');
      const identified = await decider.identify(registry, request.headers.authorization, false);
      await networkFirst(registry, request, identified, 'GET /oauth2/token');
      if ('status' in identified) refuse(registry, request, identified, 'GET /oauth2/token');
      if (
        identified.subject.kind === 'anonymous' &&
        registry.properties.anonymousPullEnabled !== true
      ) {
        refuse(
          registry,
          request,
          {
            status: 401,
            code: 'UNAUTHORIZED',
            message:
              'authentication required, visit https://aka.ms/acr/authorization for more information.',
            reason: 'identity: no credential',
          },
          'GET /oauth2/token',
        );
      }
      return issueAccess(registry, request, identified, scopes, reply, 'GET /oauth2/token');
    },
  );

  app.post<{ Body: Form }>('/oauth2/token', async (request, reply) => {
    const registry = await hosts.forDoor(door, request.headers.host);
    const form = request.body ?? {};
    const operation = 'POST /oauth2/token';
    const wrongService = serviceProblem(registry, field(form, 'service'));
    if (wrongService) await refuseMalformed(registry, request, wrongService, operation);
    const grantType = field(form, 'grant_type');
    let identified: Awaited<ReturnType<AccessDecider['identify']>>;
    if (grantType === 'refresh_token') {
      const refreshToken = field(form, 'refresh_token');
      if (!refreshToken) {
        await refuseMalformed(
          registry,
          request,
          new RegistryError('UNAUTHORIZED', 'refresh_token is required', { status: 400 }),
          operation,
        );
      }
      identified = await decider.identifyRefreshToken(registry, refreshToken!);
    } else if (grantType === 'password') {
      const username = field(form, 'username') ?? field(form, 'client_id') ?? '';
      const basic = `Basic ${Buffer.from(`${username}:${field(form, 'password') ?? ''}`).toString('base64')}`;
      identified = await decider.identify(registry, basic, false);
    } else {
      return refuseMalformed(
        registry,
        request,
        new RegistryError('UNSUPPORTED', `unsupported grant_type '${grantType ?? ''}'`, {
          status: 400,
        }),
        operation,
      );
    }
    await networkFirst(registry, request, identified, 'POST /oauth2/token');
    if ('status' in identified) refuse(registry, request, identified, 'POST /oauth2/token');
    if (identified.subject.kind === 'anonymous')
      refuse(
        registry,
        request,
        {
          status: 401,
          code: 'UNAUTHORIZED',
          message: 'authentication required',
          reason: 'identity: no credential',
        },
        'POST /oauth2/token',
      );
    return issueAccess(
      registry,
      request,
      identified,
      fields(form, 'scope'),
      reply,
      'POST /oauth2/token',
    );
  });

  app.post<{ Body: Form }>('/oauth2/exchange', async (request, reply) => {
    const registry = await hosts.forDoor(door, request.headers.host);
    const form = request.body ?? {};
    const operation = 'POST /oauth2/exchange';
    const wrongService = serviceProblem(registry, field(form, 'service'));
    if (wrongService) await refuseMalformed(registry, request, wrongService, operation);
    const grantType = field(form, 'grant_type');
    if (grantType !== 'access_token' && grantType !== 'access_token_refresh_token') {
      await refuseMalformed(
        registry,
        request,
        new RegistryError('UNSUPPORTED', `unsupported grant_type '${grantType ?? ''}'`, {
          status: 400,
        }),
        operation,
      );
    }
    const accessToken = field(form, 'access_token');
    if (!accessToken) {
      await refuseMalformed(
        registry,
        request,
        new RegistryError('UNAUTHORIZED', 'access_token is required', { status: 400 }),
        operation,
      );
    }
    const identified = await decider.identifyExchange(registry, accessToken!);
    await networkFirst(registry, request, identified, 'POST /oauth2/exchange');
    if ('status' in identified) refuse(registry, request, identified, 'POST /oauth2/exchange');
    const wrongTenant = await decider.exchangeTenantRefusal(
      registry,
      identified,
      field(form, 'tenant'),
    );
    if (wrongTenant) refuse(registry, request, wrongTenant, 'POST /oauth2/exchange');
    allowed(registry, request, identified, 'POST /oauth2/exchange', 'refresh token issued');
    reply.header('Cache-Control', 'no-store');
    return {
      refresh_token: await tokens.refreshToken(
        identified.subject as TokenSubject,
        registry.loginServer,
      ),
    };
  });
}
