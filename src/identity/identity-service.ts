/**
 * @module identity/identity-service
 * The Entra-like identity service: service principals with hashed secrets, the client-
 * credentials grant, managed identities (system- and user-assigned) and the internal path by
 * which a platform service that hosts a resource gets tokens for that resource's identities.
 * Every token it accepts is re-checked against live state: a deleted principal, a removed
 * secret or a detached identity stops working at the next request.
 */
import { randomUUID } from 'node:crypto';
import type { ControlPlaneStore, PrincipalRecord } from '../metadata/index.js';
import { IdentityTokenError, type IdentityClaims, type IdentityTokens } from './identity-tokens.js';
import { generateSecret, hashSecret, verifySecret } from './secrets.js';

export const TOKEN_LIFETIME_SECONDS = 3599;

/** The tenant first-party service principals belong to (Microsoft's first-party tenant id). */
export const FIRST_PARTY_TENANT = 'f8cdef31-a31e-4b4a-93e4-5f571e91255a';
/** First-party principals are found by this pseudo resource id plus the service name. */
export const FIRST_PARTY_PREFIX = 'breakwater:first-party/';

/** Audiences the identity service issues tokens for, by what accepts them. */
export interface Audiences {
  /** ARM (management API); the first is the canonical one (the cloud's AD resource id). */
  arm: string[];
  /** The registry audience accepted by `/oauth2/exchange`. */
  acr: string[];
  /** The Graph subset, served by the management listener. */
  graph: string[];
}

/** An OAuth error as the token endpoint must answer it (`error`, AADSTS description). */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

export interface AuthenticatedPrincipal {
  principal: PrincipalRecord;
  claims: IdentityClaims;
}

/** What a resource says about its identities: ARM `identity` of the resource, or null. */
export type ResourceIdentityLookup = (
  resourceId: string,
) => Promise<Record<string, unknown> | null>;

function normalizeAudience(value: string): string {
  return value.toLowerCase().replace(/\/+$/, '');
}

export class IdentityService {
  constructor(
    private readonly store: ControlPlaneStore,
    private readonly tokens: IdentityTokens,
    readonly audiences: Audiences,
    private readonly resourceIdentity: ResourceIdentityLookup,
  ) {}

  /** Resolves an OAuth `scope` (`<resource>/.default`) or v1 `resource` to a known audience. */
  audienceFor(scopeOrResource: string): string {
    const requested = scopeOrResource
      .split(' ')
      .map((s) => s.trim())
      .find((s) => s.endsWith('/.default') || /^https?:\/\//.test(s));
    const resource = requested?.replace(/\/\.default$/, '');
    const all = [...this.audiences.arm, ...this.audiences.acr, ...this.audiences.graph];
    const match = resource && all.find((a) => normalizeAudience(a) === normalizeAudience(resource));
    if (!match) {
      throw new OAuthError(
        400,
        'invalid_resource',
        `AADSTS500011: The resource principal named ${resource ?? scopeOrResource} was not found in the tenant.`,
      );
    }
    return match;
  }

  async createServicePrincipal(
    tenantId: string,
    displayName: string,
    secretLifetimeDays = 365,
  ): Promise<{ principal: PrincipalRecord; secret: string; secretId: string }> {
    const principal = await this.store.createPrincipal({
      objectId: randomUUID(),
      tenantId,
      appId: randomUUID(),
      kind: 'ServicePrincipal',
      displayName,
      resourceId: null,
    });
    const { secret, secretId } = await this.addSecret(principal.objectId, secretLifetimeDays);
    return { principal, secret, secretId };
  }

  async addSecret(
    principalId: string,
    lifetimeDays = 365,
  ): Promise<{ secret: string; secretId: string }> {
    const secret = generateSecret();
    const secretId = randomUUID();
    const created = new Date();
    await this.store.addSecret({
      id: secretId,
      principalId,
      hash: await hashSecret(secret),
      hint: secret.slice(0, 3),
      createdAt: created.toISOString(),
      expiresAt: new Date(created.getTime() + lifetimeDays * 86_400_000).toISOString(),
    });
    return { secret, secretId };
  }

  /**
   * Checks a client id and secret. Returns the principal and which secret matched, or undefined.
   * Expired secrets never match.
   */
  async authenticate(
    clientId: string,
    clientSecret: string,
  ): Promise<{ principal: PrincipalRecord; secretId: string } | undefined> {
    const principal = await this.store.getPrincipalByAppId(clientId);
    if (!principal || principal.kind !== 'ServicePrincipal') return undefined;
    const now = Date.now();
    for (const secret of await this.store.listSecrets(principal.objectId)) {
      if (Date.parse(secret.expiresAt) <= now) continue;
      if (await verifySecret(clientSecret, secret.hash)) return { principal, secretId: secret.id };
    }
    return undefined;
  }

  /** The client-credentials grant (`POST /{tenant}/oauth2/v2.0/token`). */
  async clientCredentials(request: {
    clientId: string;
    clientSecret: string;
    scope: string;
    tenant?: string;
  }): Promise<{
    access_token: string;
    token_type: 'Bearer';
    expires_in: number;
    ext_expires_in: number;
  }> {
    const audience = this.audienceFor(request.scope);
    const principal = await this.store.getPrincipalByAppId(request.clientId);
    const tenantLabel = request.tenant ?? 'organizations';
    if (!principal || principal.kind !== 'ServicePrincipal') {
      throw new OAuthError(
        400,
        'unauthorized_client',
        `AADSTS700016: Application with identifier '${request.clientId}' was not found in the directory '${tenantLabel}'.`,
      );
    }
    if (
      request.tenant &&
      !['organizations', 'common', principal.tenantId].includes(request.tenant)
    ) {
      throw new OAuthError(
        400,
        'unauthorized_client',
        `AADSTS700016: Application with identifier '${request.clientId}' was not found in the directory '${request.tenant}'.`,
      );
    }
    const authenticated = await this.authenticate(request.clientId, request.clientSecret);
    if (!authenticated) {
      throw new OAuthError(
        401,
        'invalid_client',
        `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${request.clientId}'.`,
      );
    }
    const { token, expiresIn } = await this.tokens.issue({
      tenantId: principal.tenantId,
      objectId: principal.objectId,
      appId: principal.appId,
      audience,
      lifetimeSeconds: TOKEN_LIFETIME_SECONDS,
      secretId: authenticated.secretId,
    });
    return {
      access_token: token,
      token_type: 'Bearer',
      expires_in: expiresIn,
      ext_expires_in: expiresIn,
    };
  }

  /** Creates the principal behind a resource's system-assigned identity (idempotent). */
  async ensureSystemAssignedIdentity(
    tenantId: string,
    resourceId: string,
    displayName: string,
  ): Promise<PrincipalRecord> {
    const existing = await this.store.getPrincipalByResourceId(resourceId);
    if (existing) return existing;
    return this.store.createPrincipal({
      objectId: randomUUID(),
      tenantId,
      appId: randomUUID(),
      kind: 'ManagedIdentity',
      displayName,
      resourceId,
    });
  }

  async removeIdentityOf(resourceId: string): Promise<void> {
    const principal = await this.store.getPrincipalByResourceId(resourceId);
    if (principal) await this.store.deletePrincipal(principal.objectId);
  }

  /**
   * The internal managed-identity endpoint: a platform service that hosts `usingResourceId` asks
   * for a token of one of that resource's identities (`'system'`, or a user-assigned identity's
   * client id or resource id). Only identities attached to the resource are served. This is an
   * in-process call: no listener exposes it, so nothing outside the platform can use it.
   */
  async managedIdentityToken(
    usingResourceId: string,
    identity: string,
    audience: string,
  ): Promise<{ token: string; expiresIn: number; principal: PrincipalRecord }> {
    const principal = await this.attachedIdentity(usingResourceId, identity);
    if (!principal) {
      throw new OAuthError(
        400,
        'invalid_request',
        `Identity '${identity}' is not assigned to resource '${usingResourceId}'.`,
      );
    }
    return this.issueFor(principal, audience, {
      managedIdentityResourceId: principal.resourceId ?? undefined,
      usingResourceId,
    });
  }

  /** A token for an in-process caller's principal (managed identities, first-party services). */
  private async issueFor(
    principal: PrincipalRecord,
    audience: string,
    managed?: { managedIdentityResourceId: string | undefined; usingResourceId: string },
  ): Promise<{ token: string; expiresIn: number; principal: PrincipalRecord }> {
    const { token, expiresIn } = await this.tokens.issue({
      tenantId: principal.tenantId,
      objectId: principal.objectId,
      appId: principal.appId,
      audience: this.audienceFor(audience),
      lifetimeSeconds: TOKEN_LIFETIME_SECONDS,
      ...managed,
    });
    return { token, expiresIn, principal };
  }

  /**
   * A token for one of the platform's own first-party services (the scanner, import): they have
   * no managed identity, only this principal of kind `FirstParty`, made on first use. Like
   * `managedIdentityToken` this is in-process only; no listener serves it.
   */
  async firstPartyToken(
    service: string,
    displayName: string,
    audience: string,
  ): Promise<{ token: string; expiresIn: number; principal: PrincipalRecord }> {
    const marker = `${FIRST_PARTY_PREFIX}${service}`;
    const principal =
      (await this.store.getPrincipalByResourceId(marker)) ??
      (await this.store.createPrincipal({
        objectId: randomUUID(),
        tenantId: FIRST_PARTY_TENANT,
        appId: randomUUID(),
        kind: 'FirstParty',
        displayName,
        resourceId: marker,
      }));
    return this.issueFor(principal, audience);
  }

  /** Whether a managed identity is still attached to the resource that used it. */
  async isAssigned(
    principal: PrincipalRecord,
    usingResourceId: string | undefined,
  ): Promise<boolean> {
    if (!usingResourceId) return false;
    const selector =
      principal.resourceId === usingResourceId.toLowerCase() ? 'system' : principal.appId;
    return (
      (await this.attachedIdentity(usingResourceId, selector))?.objectId === principal.objectId
    );
  }

  /** The identity principal `identity` names, if it is attached to the resource right now. */
  private async attachedIdentity(
    usingResourceId: string,
    identity: string,
  ): Promise<PrincipalRecord | undefined> {
    const declared = await this.resourceIdentity(usingResourceId);
    if (!declared) return undefined;
    const type = String(declared.type ?? '');
    if (identity === 'system' || identity === '[system]') {
      if (!type.includes('SystemAssigned')) return undefined;
      return this.store.getPrincipalByResourceId(usingResourceId);
    }
    if (!type.includes('UserAssigned')) return undefined;
    const attached = Object.keys(
      (declared.userAssignedIdentities as Record<string, unknown>) ?? {},
    );
    for (const identityResourceId of attached) {
      const principal = await this.store.getPrincipalByResourceId(identityResourceId);
      if (!principal) continue;
      if (
        principal.appId === identity.toLowerCase() ||
        identityResourceId.toLowerCase() === identity.toLowerCase()
      ) {
        return principal;
      }
    }
    return undefined;
  }

  /**
   * Verifies an identity token for one of `audiences` and re-checks it against live state.
   * Throws IdentityTokenError naming what failed.
   */
  async verify(token: string, audiences: string[]): Promise<AuthenticatedPrincipal> {
    const claims = await this.tokens.verify(token, audiences);
    const principal = await this.store.getPrincipal(claims.oid);
    if (!principal || principal.appId !== claims.appid || principal.tenantId !== claims.tid) {
      throw new IdentityTokenError('the token’s principal no longer exists');
    }
    if (claims.xms_sid && !(await this.store.getSecret(claims.xms_sid))) {
      throw new IdentityTokenError('the secret that obtained this token was removed');
    }
    if (principal.kind === 'ManagedIdentity') {
      if (!(await this.isAssigned(principal, claims.xms_az_rid))) {
        throw new IdentityTokenError(
          'the managed identity is no longer assigned to the resource that used it',
        );
      }
    }
    return { principal, claims };
  }
}
