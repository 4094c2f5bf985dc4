/**
 * @module access/access-decision
 * THE access decision for the data plane (docs/access-decision.md). Every `/v2/` request and
 * every `/oauth2/` token request passes through `AccessDecider` before anything else happens;
 * nothing else in the code base decides access. Stages, in order:
 *
 *   1. network   public access, default action, IP rules; the trusted-services bypass
 *   2. identity  who is asking: a registry token, Basic credentials, or nobody
 *   3. role      what their live role assignments (or admin/anonymous rules) allow
 *
 * Every decision is logged with its reason. Nothing is cached: a removed secret, role
 * assignment or identity, or a changed setting, applies to the very next request.
 */
import type { Logger } from 'pino';
import { IdentityTokenError, type IdentityService } from '../identity/index.js';
import { FIRST_PARTY_PREFIX, verifySecret } from '../identity/index.js';
import type { ControlPlaneStore, RegistryRecord } from '../metadata/index.js';
import {
  DataPermissions,
  roleById,
  type AssignedRole,
  type RepositoryAction,
  type RoleAssignmentMode,
  scopeMapAllows,
  SYSTEM_SCOPE_MAPS,
} from '../rbac/index.js';
import {
  ClientAddressResolver,
  evaluatePrivateDoor,
  NetworkRuleCache,
  PUBLIC_DOOR,
  type Door,
} from '../network/index.js';
import { AuditLog } from './audit-log.js';
import { ControlPlaneReads } from './control-plane-reads.js';
import { RegistryTokenError, type RegistryTokens, type TokenSubject } from './registry-tokens.js';
import { DOCKER_ACTIONS, formatScope, type AccessEntry } from './scopes.js';

export const NULL_GUID = '00000000-0000-0000-0000-000000000000';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ANONYMOUS: TokenSubject = { kind: 'anonymous', id: 'anonymous' };
/**
 * Data actions of each first-party service (by the name given to `firstPartyToken`). The
 * scanner reads images (pull, metadata read) and may write only referrers: `content/write`
 * for it is limited to blobs and to manifests pushed by digest with a `subject` (its SBOM), so
 * it can neither tag nor replace an image (docs/access-decision.md). Import copies images in.
 */
const FIRST_PARTY_ACTIONS: Record<string, ReadonlySet<string>> = {
  scanner: new Set(['content/read', 'metadata/read', 'content/write']),
  import: new Set(['content/read', 'metadata/read', 'content/write', 'metadata/write']),
};
/** First-party services whose writes are limited to referrers. */
const REFERRERS_ONLY = new Set(['scanner']);
/** Run states in which a run's implicit credential is good. */
const ACTIVE_RUN_STATES = new Set(['Queued', 'Started', 'Running']);
/** What a run's implicit credential may do in its registry. */
const RUN_ACTIONS = new Set(['content/read', 'metadata/read', 'content/write', 'metadata/write']);
const AUTH_HELP = 'visit https://aka.ms/acr/authorization for more information.';

/** What a request needs: any valid identity (`/v2/`), repository actions, or the catalog. */
export type Requirement =
  | { kind: 'authenticated' }
  | { kind: 'repository'; repository: string; actions: string[] }
  /** The catalog, or (`deleted`) soft delete's list of deleted repositories. */
  | { kind: 'catalog'; deleted?: true };

/** Registry scope names (`registry:<name>:*`) and the token scope each catalog needs. */
const CATALOG_SCOPES = new Set(['catalog', 'deleted_catalog']);
const catalogScope = (requirement: { deleted?: true }) =>
  requirement.deleted ? 'deleted_catalog' : 'catalog';

export interface RequestFacts {
  registry: RegistryRecord;
  /** The listener the request came through (public endpoint, or a private endpoint). */
  door?: Door;
  /** The client address the registry sees. */
  source: string;
  authorization: string | undefined;
  /** How the client reached us, for the challenge's realm. */
  realmBase: string;
  /** What the request is, for the audit record (`GET /v2/app/manifests/v1`). */
  operation: string;
}

/** Who is asking, re-validated against live state. */
export interface DataPrincipal {
  subject: TokenSubject;
  /** From a Bearer access token: the most it may do, whatever roles say. */
  tokenAccess?: AccessEntry[];
  /** How the caller proved who it is (for the audit record). */
  via:
    | 'access token'
    | 'refresh token'
    | 'admin password'
    | 'client secret'
    | 'token password'
    | 'anonymous';
}

export type Decision =
  | {
      allowed: true;
      principal: DataPrincipal;
      reason: string;
      /** The principal may push only referrers (manifests by digest with a subject) and blobs. */
      referrersOnly?: true;
    }
  | {
      allowed: false;
      status: 401 | 403;
      code: 'UNAUTHORIZED' | 'DENIED';
      message: string;
      reason: string;
      challenge?: string;
      detail?: NetworkAdvice;
    };

interface Refusal {
  status: 401 | 403;
  code: 'UNAUTHORIZED' | 'DENIED';
  message: string;
  reason: string;
  /** What the client may read about a network refusal: its address and what to change. */
  detail?: NetworkAdvice;
}

export interface NetworkAdvice {
  sourceAddress: string;
  registry: string;
  decidedBy: string;
  advice: string[];
}

export interface Explanation {
  registry: string;
  door: 'public';
  sourceAddress: string;
  network: { allowed: boolean; reason: string };
  trustedServices: { allowed: boolean; tasksAllowed: boolean };
  authorization?: { allowed: boolean; reason: string; repository: string; action: string };
  advice: string[];
}

export class AccessDecider {
  private readonly networkRules = new NetworkRuleCache();

  /** Principals, secrets, resources and role assignments, re-read only when they changed. */
  private readonly controlPlane: ControlPlaneReads;

  constructor(
    /** Read directly only for what the remembered reads leave out (a subscription's tenant). */
    private readonly store: ControlPlaneStore,
    private readonly identity: IdentityService,
    private readonly tokens: RegistryTokens,
    private readonly logger: Logger,
    private readonly addresses: ClientAddressResolver = new ClientAddressResolver([]),
    readonly auditLog: AuditLog = new AuditLog(undefined, logger),
  ) {
    this.controlPlane = new ControlPlaneReads(store);
  }

  /**
   * The address a request is judged by: the socket peer, or the forwarded client when the peer
   * is a configured trusted proxy (never a header from anyone else).
   */
  sourceOf(
    peer: string | undefined,
    headers: Record<string, string | string[] | undefined>,
  ): string {
    return this.addresses.resolve(peer ?? '', headers).address;
  }

  /** The full decision for a data-plane request, logged with its reason. */
  async decide(facts: RequestFacts, requirement: Requirement): Promise<Decision> {
    const decision = await this.evaluate(facts, requirement);
    this.audit(facts, requirement, decision);
    return decision;
  }

  private async evaluate(facts: RequestFacts, requirement: Requirement): Promise<Decision> {
    const identified = await this.identify(facts.registry, facts.authorization, true);
    // Stage 1: network. Its answer comes before any 401: a refused source learns nothing more.
    const network = await this.networkGate(facts.registry, facts.source, identified, facts.door);
    if ('status' in network) return { allowed: false, ...network };
    // Stage 2: identity.
    if ('status' in identified) {
      return { allowed: false, ...identified, challenge: this.challenge(facts, requirement) };
    }
    if (
      identified.subject.kind === 'anonymous' &&
      !this.anonymousMaySatisfy(facts.registry, requirement)
    ) {
      return {
        allowed: false,
        status: 401,
        code: 'UNAUTHORIZED',
        message: `authentication required, ${AUTH_HELP}`,
        reason: 'identity: no credential',
        challenge: this.challenge(facts, requirement),
      };
    }
    // Stage 3: role.
    const authorized = await this.authorize(facts.registry, identified, requirement);
    if ('status' in authorized) {
      const insufficientToken = authorized.status === 401;
      return {
        allowed: false,
        ...authorized,
        reason: `${network.reason}; ${authorized.reason}`,
        ...(insufficientToken ? { challenge: this.challenge(facts, requirement) } : {}),
      };
    }
    return {
      allowed: true,
      principal: identified,
      reason: `${network.reason}; ${authorized.reason}`,
      ...(authorized.referrersOnly ? { referrersOnly: true as const } : {}),
    };
  }

  /**
   * Stage 1 for the public endpoint: the registry's network rules, and when they refuse, the
   * trusted-services bypass. The bypass opens the network only; the role check still follows.
   * Rules are compiled once per settings version and the settings are re-read every request.
   */
  async networkGate(
    registry: RegistryRecord,
    source: string,
    identified: DataPrincipal | Refusal,
    door: Door = PUBLIC_DOOR,
  ): Promise<{ reason: string } | Refusal> {
    if (door.kind === 'private') {
      // Private endpoints: approval and the virtual network decide; no bypass is needed there.
      const connections = (registry.properties.privateEndpointConnections ?? []) as Array<{
        name: string;
        properties: {
          privateEndpoint: { id: string };
          privateLinkServiceConnectionState: { status: string };
        };
      }>;
      const connection = connections.find(
        (c) => c.properties.privateEndpoint.id.toLowerCase() === door.endpointId.toLowerCase(),
      );
      const verdict = evaluatePrivateDoor(
        door,
        connection
          ? {
              name: connection.name,
              status: connection.properties.privateLinkServiceConnectionState.status,
            }
          : undefined,
        source,
      );
      if (verdict.pass) return { reason: verdict.reason };
      return { status: 403, code: 'DENIED', message: verdict.message, reason: verdict.reason };
    }
    const rules = this.networkRules.get(registry.id, registry.updatedAt, registry.properties);
    const verdict = rules.evaluate(source);
    if (verdict.pass) return { reason: verdict.reason };
    const refuse = (why: string): Refusal => ({
      status: 403,
      code: 'DENIED',
      message: verdict.message,
      reason: `${verdict.reason}; ${why}`,
      detail: {
        sourceAddress: source,
        registry: registry.loginServer,
        decidedBy: verdict.reason,
        advice: networkAdvice(registry, source, verdict.reason),
      },
    });
    if (registry.properties.networkRuleBypassOptions !== 'AzureServices') {
      return refuse('trusted services are not allowed (networkRuleBypassOptions None)');
    }
    if ('status' in identified) return refuse('no valid trusted-service credential');
    const trusted = await this.trustedService(registry, identified);
    if (!trusted.trusted) return refuse(trusted.why);
    return { reason: `network: trusted-service bypass (${trusted.what})` };
  }

  /**
   * Whether a verified principal is an instance of a trusted service: a managed identity used
   * by a container group, an ML workspace or a registry task (tasks only while
   * networkRuleBypassAllowedForTasks is not false), or a first-party platform service. Web apps
   * are never trusted, whatever the setting.
   */
  private async trustedService(
    registry: RegistryRecord,
    principal: DataPrincipal,
  ): Promise<{ trusted: true; what: string } | { trusted: false; why: string }> {
    const subject = principal.subject;
    if (subject.kind !== 'aad')
      return { trusted: false, why: `a ${subject.kind} credential is not a trusted service` };
    const record = await this.controlPlane.getPrincipal(subject.id);
    if (record?.kind === 'FirstParty')
      return { trusted: true, what: `first-party service ${record.displayName}` };
    if (record?.kind !== 'ManagedIdentity' || !subject.usingResource) {
      return {
        trusted: false,
        why: 'the credential is not a managed identity of a trusted service',
      };
    }
    const using = subject.usingResource;
    const type = trustedTypeOf(using);
    if (type === 'web app')
      return { trusted: false, why: `web apps are not trusted services (${using})` };
    if (type === undefined)
      return { trusted: false, why: `resource ${using} is not a trusted service` };
    if (
      type === 'registry task' &&
      registry.properties.networkRuleBypassAllowedForTasks === false
    ) {
      return {
        trusted: false,
        why: 'tasks may not bypass network rules (networkRuleBypassAllowedForTasks false)',
      };
    }
    // The bypass is for "the service instance [that] authenticates with its own identity and
    // holds a role on the registry": an instance of the service in another tenant is not the
    // owner's, and an identity with no role here has no business getting past the network.
    const tenant = await this.tenantOf(registry);
    if (record.tenantId.toLowerCase() !== tenant?.toLowerCase()) {
      return {
        trusted: false,
        why: `the managed identity belongs to tenant ${record.tenantId}, not the registry's tenant ${tenant ?? '(none)'}`,
      };
    }
    const scope = registry.arm?.resourceId;
    const roles = scope
      ? await this.controlPlane.listRoleAssignmentsApplyingTo(scope, record.objectId)
      : [];
    if (roles.length === 0) {
      return {
        trusted: false,
        why: `the managed identity holds no role assignment on the registry (${using})`,
      };
    }
    return { trusted: true, what: `${type} ${using}` };
  }

  /** The tenant that owns a registry: its subscription's (undefined for a pre-ARM registry). */
  async tenantOf(registry: RegistryRecord): Promise<string | undefined> {
    const subscriptionId = registry.arm?.subscriptionId;
    if (!subscriptionId) return undefined;
    // Read live, and only on the bypass and exchange paths (the memo does not cover it).
    return (await this.store.getSubscription(subscriptionId))?.tenantId;
  }

  /**
   * Stage 2: who is asking. `allowBearer` is false on the token endpoints, which take Basic
   * credentials (or a refresh token) but not access tokens.
   */
  async identify(
    registry: RegistryRecord,
    authorization: string | undefined,
    allowBearer: boolean,
  ): Promise<DataPrincipal | Refusal> {
    if (!authorization) return { subject: ANONYMOUS, via: 'anonymous' };
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'bearer' && allowBearer) {
      try {
        const claims = await this.tokens.verify(value, registry.loginServer, 'access_token');
        const live = await this.checkLive(registry, claims.sbj);
        if (live) return live;
        return { subject: claims.sbj, tokenAccess: claims.access ?? [], via: 'access token' };
      } catch (error) {
        if (error instanceof RegistryTokenError)
          return unauthorized(`the access token is invalid: ${error.message}`);
        throw error;
      }
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return unauthorized('malformed basic credentials');
      return this.identifyBasic(registry, decoded.slice(0, colon), decoded.slice(colon + 1));
    }
    return unauthorized(`unsupported authorization scheme '${scheme}'`);
  }

  private async identifyBasic(
    registry: RegistryRecord,
    username: string,
    password: string,
  ): Promise<DataPrincipal | Refusal> {
    // The null GUID says the password is an ACR refresh token (docker login after az acr login).
    // It also accepts an ACR access token that way (docker login with an access token).
    if (username === NULL_GUID) {
      const refresh = await this.identifyRefreshToken(registry, password);
      if (!('status' in refresh)) return refresh;
      return this.identify(registry, `Bearer ${password}`, true).then((access) =>
        'status' in access ? refresh : access,
      );
    }
    const adminName = registry.arm?.resourceId.split('/').at(-1) ?? registry.name;
    if (username.toLowerCase() === adminName.toLowerCase()) {
      if (registry.properties.adminUserEnabled !== true)
        return unauthorized('the admin user is disabled');
      for (const credential of await this.controlPlane.listRegistryCredentials(registry.id)) {
        if (await verifySecret(password, credential.hash)) {
          return {
            subject: {
              kind: 'admin',
              id: registry.name,
              secretId: `${credential.name}@${credential.createdAt}`,
            },
            via: 'admin password',
          };
        }
      }
      return unauthorized('invalid admin user password');
    }
    // Repository tokens log in with their own name (never a GUID, unlike application ids).
    if (!GUID.test(username) && registry.arm) {
      return this.identifyRepositoryToken(registry, username, password);
    }
    const authenticated = await this.identity.authenticate(username.toLowerCase(), password);
    if (authenticated) {
      const { principal, secretId } = authenticated;
      return {
        subject: { kind: 'aad', id: principal.objectId, tenant: principal.tenantId, secretId },
        via: 'client secret',
      };
    }
    return unauthorized('invalid username or password');
  }

  private async identifyRepositoryToken(
    registry: RegistryRecord,
    name: string,
    password: string,
  ): Promise<DataPrincipal | Refusal> {
    const token = await this.controlPlane.getResource(`${registry.arm!.resourceId}/tokens/${name}`);
    if (!token) return unauthorized('invalid username or password');
    if (token.properties.status !== 'enabled')
      return unauthorized(`the token '${name}' is disabled`);
    for (const stored of tokenPasswords(token.properties)) {
      if (stored.expiry && Date.parse(stored.expiry) <= Date.now()) continue;
      if (await verifySecret(password, stored.hash)) {
        return {
          subject: {
            kind: 'token',
            id: token.id,
            secretId: `${stored.name}@${stored.creationTime}`,
          },
          via: 'token password',
        };
      }
    }
    return unauthorized('invalid username or password');
  }

  /** A registry refresh token (from `/oauth2/exchange`), re-checked against live state. */
  async identifyRefreshToken(
    registry: RegistryRecord,
    token: string,
  ): Promise<DataPrincipal | Refusal> {
    try {
      const claims = await this.tokens.verify(token, registry.loginServer, 'refresh_token');
      const live = await this.checkLive(registry, claims.sbj);
      if (live) return live;
      return { subject: claims.sbj, via: 'refresh token' };
    } catch (error) {
      if (error instanceof RegistryTokenError)
        return unauthorized(`the refresh token is invalid: ${error.message}`);
      throw error;
    }
  }

  /** Re-validates what a registry token stands for; a Refusal when it no longer holds. */
  private async checkLive(
    registry: RegistryRecord,
    subject: TokenSubject,
  ): Promise<Refusal | undefined> {
    if (subject.kind === 'anonymous') {
      return registry.properties.anonymousPullEnabled === true
        ? undefined
        : unauthorized('anonymous pull is disabled');
    }
    if (subject.kind === 'token') {
      const token = await this.controlPlane.getResource(subject.id);
      if (!token || token.properties.status !== 'enabled')
        return unauthorized('the token was deleted or disabled');
      const [name, creationTime] = (subject.secretId ?? '').split('@');
      const password = tokenPasswords(token.properties).find(
        (p) => p.name === name && p.creationTime === creationTime,
      );
      if (!password || (password.expiry && Date.parse(password.expiry) <= Date.now())) {
        return unauthorized('the token password was regenerated, deleted or has expired');
      }
      return undefined;
    }
    if (subject.kind === 'run') {
      const run = await this.controlPlane.getResource(subject.id);
      return run && ACTIVE_RUN_STATES.has(String(run.properties.status))
        ? undefined
        : unauthorized('the task run that held this credential has finished');
    }
    if (subject.kind === 'admin') {
      if (registry.properties.adminUserEnabled !== true)
        return unauthorized('the admin user is disabled');
      const [name, createdAt] = (subject.secretId ?? '').split('@');
      const credentials = await this.controlPlane.listRegistryCredentials(registry.id);
      if (!credentials.some((c) => c.name === name && c.createdAt === createdAt)) {
        return unauthorized('the admin password was regenerated');
      }
      return undefined;
    }
    const principal = await this.controlPlane.getPrincipal(subject.id);
    if (!principal) return unauthorized('the principal no longer exists');
    if (subject.secretId) {
      const secret = await this.controlPlane.getSecret(subject.secretId);
      if (!secret || Date.parse(secret.expiresAt) <= Date.now())
        return unauthorized('the client secret was removed or expired');
    }
    if (
      principal.kind === 'ManagedIdentity' &&
      !(await this.identity.isAssigned(principal, subject.usingResource))
    ) {
      return unauthorized(
        'the managed identity is no longer assigned to the resource that used it',
      );
    }
    return undefined;
  }

  /** Verifies an identity-service token presented to `/oauth2/exchange`. */
  async identifyExchange(
    registry: RegistryRecord,
    accessToken: string,
  ): Promise<DataPrincipal | Refusal> {
    const armAllowed =
      (registry.properties.policies as Record<string, { status?: string }> | undefined)
        ?.azureADAuthenticationAsArmPolicy?.status !== 'disabled';
    const audiences = [
      ...this.identity.audiences.acr,
      ...(armAllowed ? this.identity.audiences.arm : []),
    ];
    try {
      const { principal, claims } = await this.identity.verify(accessToken, audiences);
      return {
        subject: {
          kind: 'aad',
          id: principal.objectId,
          tenant: principal.tenantId,
          ...(claims.xms_sid ? { secretId: claims.xms_sid } : {}),
          ...(claims.xms_az_rid ? { usingResource: claims.xms_az_rid } : {}),
          ...(claims.xms_mirid ? { identityResource: claims.xms_mirid } : {}),
        },
        via: 'client secret',
      };
    } catch (error) {
      if (error instanceof IdentityTokenError)
        return unauthorized(`the identity token is invalid: ${error.message}`);
      throw error;
    }
  }

  /**
   * `/oauth2/exchange` trades a token of one tenant for a registry refresh token: the tenant
   * the client names (or, without one, the token's own) must be the registry's. The platform's
   * first-party services live in the platform's tenant and are judged by the network stage.
   */
  async exchangeTenantRefusal(
    registry: RegistryRecord,
    principal: DataPrincipal,
    requested: string | undefined,
  ): Promise<Refusal | undefined> {
    const subject = principal.subject;
    if (subject.kind !== 'aad') return undefined;
    const tokenTenant = (subject.tenant ?? '').toLowerCase();
    if (requested && requested.toLowerCase() !== tokenTenant) {
      return unauthorized(`the token was issued for another tenant than '${requested}'`);
    }
    if ((await this.controlPlane.getPrincipal(subject.id))?.kind === 'FirstParty') return undefined;
    const tenant = (await this.tenantOf(registry))?.toLowerCase();
    if (tokenTenant !== tenant) {
      return unauthorized(
        `tenant '${requested || tokenTenant}' is not the tenant of registry '${registry.name}'`,
      );
    }
    return undefined;
  }

  /** Live repository permissions of a principal on a registry. */
  async permissionsOf(registry: RegistryRecord, principal: DataPrincipal): Promise<PermissionView> {
    const subject = principal.subject;
    if (subject.kind === 'admin')
      return { allows: () => 'admin user', catalog: () => 'admin user' };
    if (subject.kind === 'token') {
      const token = await this.controlPlane.getResource(subject.id);
      const actions = token ? await this.scopeMapActions(String(token.properties.scopeMapId)) : [];
      const reason = `scope map of token ${subject.id.split('/').at(-1)}`;
      return {
        allows: (repository, action) =>
          scopeMapAllows(actions, repository, action) ? reason : undefined,
        catalog: () => (scopeMapAllows(actions, '*', 'metadata/read') ? reason : undefined),
      };
    }
    if (subject.kind === 'run') {
      // A run's implicit credential: pull and push in its own registry (the token's audience),
      // nothing more; it never counts as a trusted service (see trustedService).
      const reason = `implicit credential of task run ${subject.id.split('/').at(-1)}`;
      return {
        allows: (_repository, action) => (RUN_ACTIONS.has(action) ? reason : undefined),
        catalog: () => undefined,
      };
    }
    if (subject.kind === 'anonymous') {
      const enabled = registry.properties.anonymousPullEnabled === true;
      return {
        allows: (_repository, action) =>
          enabled && (action === 'content/read' || action === 'metadata/read')
            ? 'anonymous pull enabled'
            : undefined,
        catalog: () => undefined,
      };
    }
    const firstParty = await this.firstPartyPermissions(subject.id);
    if (firstParty) return firstParty;
    const scope = registry.arm?.resourceId;
    const assignments = scope
      ? await this.controlPlane.listRoleAssignmentsApplyingTo(scope, subject.id)
      : [];
    const assigned: AssignedRole[] = [];
    for (const assignment of assignments) {
      const role = roleById(assignment.roleDefinitionId);
      if (role)
        assigned.push({ assignmentId: assignment.name, role, condition: assignment.condition });
    }
    const mode =
      (registry.properties.roleAssignmentMode as RoleAssignmentMode) ?? 'LegacyRegistryPermissions';
    const permissions = DataPermissions.fromAssignments(assigned, mode);
    const describe = (grant: { roleName: string; assignmentId: string } | undefined) =>
      grant ? `${grant.roleName} via role assignment ${grant.assignmentId}` : undefined;
    return {
      allows: (repository, action) => describe(permissions.allows(repository, action)),
      catalog: () => describe(permissions.allowsCatalog()),
    };
  }

  /**
   * The platform's first-party services hold fixed data permissions instead of role
   * assignments, as ACR's do: what each may do is decided by the service (which checks its own
   * caller first, e.g. import checks the caller's roles), and whether it gets in at all by the
   * network stage (trusted services allowed).
   */
  private async firstPartyPermissions(objectId: string): Promise<PermissionView | undefined> {
    const record = await this.controlPlane.getPrincipal(objectId);
    if (record?.kind !== 'FirstParty') return undefined;
    const service = (record.resourceId ?? '').slice(FIRST_PARTY_PREFIX.length);
    const actions = FIRST_PARTY_ACTIONS[service] ?? new Set<string>();
    const referrersOnly = REFERRERS_ONLY.has(service);
    const reason = `first-party service ${record.displayName}${referrersOnly ? ' (writes referrers only)' : ''}`;
    return {
      allows: (_repository, action) => (actions.has(action) ? reason : undefined),
      catalog: () => (actions.has('metadata/read') ? reason : undefined),
      ...(referrersOnly ? { referrersOnly: true } : {}),
    };
  }

  private async scopeMapActions(scopeMapId: string): Promise<string[]> {
    const name = scopeMapId.split('/').at(-1) ?? '';
    if (SYSTEM_SCOPE_MAPS[name]) return SYSTEM_SCOPE_MAPS[name].actions;
    const map = await this.controlPlane.getResource(scopeMapId);
    return map ? (map.properties.actions as string[]) : [];
  }

  /** The Docker scopes of `requested` that the principal holds now (token endpoint grants). */
  async grant(
    registry: RegistryRecord,
    principal: DataPrincipal,
    requested: AccessEntry[],
  ): Promise<AccessEntry[]> {
    const view = await this.permissionsOf(registry, principal);
    const granted: AccessEntry[] = [];
    for (const entry of requested) {
      const actions =
        entry.type === 'registry'
          ? CATALOG_SCOPES.has(entry.name) && view.catalog()
            ? ['*']
            : []
          : entry.actions.filter(
              (action) =>
                (DOCKER_ACTIONS[action] ?? []).length > 0 &&
                (DOCKER_ACTIONS[action] ?? []).every((a) => view.allows(entry.name, a)),
            );
      if (actions.length > 0) granted.push({ ...entry, actions });
    }
    return granted;
  }

  /** Stage 3. A 401 means "get a token with that scope"; a 403 means "you may not". */
  private async authorize(
    registry: RegistryRecord,
    principal: DataPrincipal,
    requirement: Requirement,
  ): Promise<{ reason: string; referrersOnly?: true } | Refusal> {
    if (requirement.kind === 'authenticated')
      return { reason: `authenticated (${describePrincipal(principal)})` };
    const view = await this.permissionsOf(registry, principal);
    const needed: Array<[string, RepositoryAction[] | 'catalog']> =
      requirement.kind === 'catalog'
        ? [['*', 'catalog']]
        : requirement.actions.map((a) => [a, DOCKER_ACTIONS[a] ?? []]);
    const reasons: string[] = [];
    for (const [dockerAction, actions] of needed) {
      let reason: string | undefined;
      if (actions === 'catalog') {
        reason = view.catalog();
      } else if (actions.length > 0) {
        const repository = requirement.kind === 'repository' ? requirement.repository : '';
        const parts = actions.map((action) => view.allows(repository, action));
        reason = parts.every(Boolean) ? parts[0] : undefined;
      }
      if (!reason) {
        return {
          status: 403,
          code: 'DENIED',
          message: 'requested access to the resource is denied',
          reason: `authz: ${describePrincipal(principal)} may not ${dockerAction} ${requirement.kind === 'repository' ? requirement.repository : 'the catalog'}`,
        };
      }
      reasons.push(reason);
      if (principal.tokenAccess && !tokenCovers(principal.tokenAccess, requirement, dockerAction)) {
        return {
          status: 401,
          code: 'UNAUTHORIZED',
          message: `access token lacks the scope for this request, ${AUTH_HELP}`,
          reason: 'identity: access token scope does not cover the request',
        };
      }
    }
    const writes = requirement.kind === 'repository' && requirement.actions.includes('push');
    return {
      reason: `authz: ${[...new Set(reasons)].join('; ')}`,
      ...(writes && view.referrersOnly ? { referrersOnly: true as const } : {}),
    };
  }

  /**
   * Explains, with the code that decides, what the registry makes of a source address and
   * (optionally) a principal wanting one action on a repository: which rule decides and what to
   * change. Used by `/acr/v1/_checkaccess`, the management `checkAccess` action and check-health.
   */
  async explain(
    registry: RegistryRecord,
    source: string,
    principal?: DataPrincipal,
    wanted?: { repository: string; action: string },
  ): Promise<Explanation> {
    const verdict = this.networkRules
      .get(registry.id, registry.updatedAt, registry.properties)
      .evaluate(source);
    const advice = verdict.pass ? [] : networkAdvice(registry, source, verdict.reason);
    const explanation: Explanation = {
      registry: registry.loginServer,
      door: 'public',
      sourceAddress: source,
      network: { allowed: verdict.pass, reason: verdict.reason },
      trustedServices: {
        allowed: registry.properties.networkRuleBypassOptions === 'AzureServices',
        tasksAllowed: registry.properties.networkRuleBypassAllowedForTasks !== false,
      },
      advice,
    };
    if (principal && wanted) {
      const allowed = await this.may(registry, principal, {
        kind: 'repository',
        repository: wanted.repository,
        actions: [wanted.action],
      });
      const view = await this.permissionsOf(registry, principal);
      const grant = (DOCKER_ACTIONS[wanted.action] ?? [])
        .map((a) => view.allows(wanted.repository, a))
        .find(Boolean);
      explanation.authorization = {
        allowed,
        reason: allowed
          ? (grant ?? 'allowed')
          : `${describePrincipal(principal)} holds no role that allows ${wanted.action} on ${wanted.repository}`,
        ...wanted,
      };
      if (!allowed) {
        advice.push(
          `Assign principal ${principal.subject.id} a role that allows ${wanted.action} (e.g. ${wanted.action === 'pull' ? 'AcrPull' : wanted.action === 'push' ? 'AcrPush' : 'AcrDelete'}) at the registry's scope ${registry.arm?.resourceId ?? registry.name} (ARM roleAssignments PUT).`,
        );
      }
    }
    return explanation;
  }

  /** Stage 3 alone, for a second repository within one request (the source of a mount). */
  async may(
    registry: RegistryRecord,
    principal: DataPrincipal,
    requirement: Requirement,
  ): Promise<boolean> {
    return !('status' in (await this.authorize(registry, principal, requirement)));
  }

  private anonymousMaySatisfy(registry: RegistryRecord, requirement: Requirement): boolean {
    if (registry.properties.anonymousPullEnabled !== true) return false;
    // `/v2/` still answers 401 without credentials, so clients discover the token service.
    return requirement.kind === 'repository' && requirement.actions.every((a) => a === 'pull');
  }

  /** `WWW-Authenticate` for a 401, byte-compatible with ACR (no space after the commas). */
  challenge(facts: Pick<RequestFacts, 'realmBase' | 'registry'>, requirement: Requirement): string {
    const scope =
      requirement.kind === 'repository'
        ? `,scope="${formatScope({ type: 'repository', name: requirement.repository, actions: requirement.actions })}"`
        : requirement.kind === 'catalog'
          ? `,scope="registry:${catalogScope(requirement)}:*"`
          : '';
    return `Bearer realm="${facts.realmBase}/oauth2/token",service="${facts.registry.loginServer}"${scope}`;
  }

  private audit(facts: RequestFacts, requirement: Requirement, decision: Decision): void {
    const subject = decision.allowed ? decision.principal.subject : undefined;
    this.auditLog.record({
      registry: facts.registry.name,
      door:
        facts.door?.kind === 'private' ? `private endpoint ${facts.door.endpointName}` : 'public',
      source: facts.source,
      operation: facts.operation,
      requirement:
        requirement.kind === 'repository'
          ? formatScope({
              type: 'repository',
              name: requirement.repository,
              actions: requirement.actions,
            })
          : requirement.kind,
      result: decision.allowed ? 'allowed' : 'refused',
      ...(subject ? { principal: subject.id, principalKind: subject.kind } : {}),
      ...(subject?.usingResource ? { usingResource: subject.usingResource } : {}),
      ...(decision.allowed ? {} : { status: decision.status }),
      reason: decision.reason,
    });
  }
}

export interface PermissionView {
  allows(repository: string, action: RepositoryAction): string | undefined;
  catalog(): string | undefined;
  /** Its `content/write` covers referrers only (see REFERRERS_ONLY). */
  referrersOnly?: boolean;
}

function unauthorized(why: string): Refusal {
  return {
    status: 401,
    code: 'UNAUTHORIZED',
    message: `authentication failed: ${why}, ${AUTH_HELP}`,
    reason: `identity: ${why}`,
  };
}

/** What an owner (or the caller) can change to let `source` in. */
function networkAdvice(registry: RegistryRecord, source: string, reason: string): string[] {
  const name = registry.name;
  if (reason.includes('public network access disabled')) {
    return [
      `Public network access to '${name}' is disabled: reach it through a private endpoint, or re-enable it with 'breakwater acr update --name ${name} --public-network-enabled true'.`,
      `Trusted services (container instances, ML, tasks, scanning, import) get in with their managed identity while 'allow trusted services' is on.`,
    ];
  }
  return [
    `The registry sees your address as ${source}. Allow it with 'breakwater acr network-rule add --name ${name} --ip-address ${source}'.`,
    `If a proxy or NAT sits in front of you, the registry sees its address, not yours.`,
  ];
}

/** The trusted-service kind of a resource, from its type in the resource id. */
function trustedTypeOf(
  resourceId: string,
): 'container group' | 'ML workspace' | 'registry task' | 'web app' | undefined {
  const lower = resourceId.toLowerCase();
  if (lower.includes('/providers/microsoft.web/sites/')) return 'web app';
  if (lower.includes('/providers/microsoft.containerinstance/containergroups/'))
    return 'container group';
  if (lower.includes('/providers/microsoft.machinelearningservices/workspaces/'))
    return 'ML workspace';
  if (/\/providers\/microsoft\.containerregistry\/registries\/[^/]+\/tasks\//.test(lower))
    return 'registry task';
  return undefined;
}

function describePrincipal(principal: DataPrincipal): string {
  const subject = principal.subject;
  if (subject.kind === 'anonymous') return 'anonymous';
  if (subject.kind === 'admin') return `admin user of ${subject.id}`;
  if (subject.kind === 'token') return `token ${subject.id.split('/').at(-1)}`;
  if (subject.kind === 'run') return `task run ${subject.id.split('/').at(-1)}`;
  return subject.usingResource
    ? `managed identity ${subject.id} used by ${subject.usingResource}`
    : `principal ${subject.id}`;
}

function tokenCovers(
  access: AccessEntry[],
  requirement: Requirement,
  dockerAction: string,
): boolean {
  if (requirement.kind === 'catalog') {
    const name = catalogScope(requirement);
    return access.some((a) => a.type === 'registry' && a.name === name);
  }
  if (requirement.kind !== 'repository') return true;
  return access.some(
    (a) =>
      a.type === 'repository' &&
      a.name === requirement.repository &&
      (a.actions.includes(dockerAction) || a.actions.includes('*')),
  );
}

interface TokenPassword {
  name: string;
  creationTime: string;
  expiry: string | null;
  hash: string;
}

function tokenPasswords(properties: Record<string, unknown>): TokenPassword[] {
  return (properties.credentials as { passwords?: TokenPassword[] } | undefined)?.passwords ?? [];
}
