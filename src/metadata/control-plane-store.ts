/**
 * @module metadata/control-plane-store
 * The control-plane contract: tenants, subscriptions, principals and their hashed secrets, ARM
 * resources (every type but registries, which live in the metadata store), role assignments,
 * and the admin user's credentials of each registry.
 */

export interface TenantRecord {
  id: string;
  displayName: string;
}

export interface SubscriptionRecord {
  id: string;
  tenantId: string;
  displayName: string;
  state: string;
}

export type PrincipalKind = 'ServicePrincipal' | 'ManagedIdentity' | 'FirstParty';

export interface PrincipalRecord {
  objectId: string;
  tenantId: string;
  /** Application (client) id. */
  appId: string;
  kind: PrincipalKind;
  displayName: string;
  /**
   * Managed identities: the user-assigned identity resource, or the resource whose
   * system-assigned identity this is (`xms_mirid`).
   */
  resourceId: string | null;
  createdAt: string;
}

export interface SecretRecord {
  id: string;
  principalId: string;
  /** Salted SHA-256 hash; the secret itself is never stored. */
  hash: string;
  hint: string;
  createdAt: string;
  expiresAt: string;
}

export interface ResourceRecord {
  id: string;
  type: string;
  subscriptionId: string;
  /** Lower-case resource group name, null for subscription-level resources. */
  resourceGroup: string | null;
  name: string;
  location: string | null;
  tags: Record<string, string> | null;
  sku: Record<string, unknown> | null;
  identity: Record<string, unknown> | null;
  properties: Record<string, unknown>;
  systemData: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
  /** Moves on every write: what `replaceResource` compares. */
  version: number;
}

export type NewResource = Omit<ResourceRecord, 'createdAt' | 'updatedAt' | 'version'>;

export interface RoleAssignmentRecord {
  /** The assignment GUID (ARM `name`). */
  name: string;
  scope: string;
  /** Role definition GUID. */
  roleDefinitionId: string;
  principalId: string;
  principalType: string | null;
  condition: string | null;
  conditionVersion: string | null;
  description: string | null;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface RegistryCredentialRecord {
  registryId: string;
  name: 'password' | 'password2';
  hash: string;
  /** The password sealed with the platform key: ACR's listCredentials must show it again. */
  sealed: string;
  createdAt: string;
}

export interface ControlPlaneStore {
  createTenant(tenant: TenantRecord): Promise<void>;
  getTenant(id: string): Promise<TenantRecord | undefined>;
  createSubscription(subscription: SubscriptionRecord): Promise<void>;
  getSubscription(id: string): Promise<SubscriptionRecord | undefined>;
  listSubscriptions(): Promise<SubscriptionRecord[]>;

  createPrincipal(principal: Omit<PrincipalRecord, 'createdAt'>): Promise<PrincipalRecord>;
  getPrincipal(objectId: string): Promise<PrincipalRecord | undefined>;
  getPrincipalByAppId(appId: string): Promise<PrincipalRecord | undefined>;
  /** Managed identities whose `resourceId` is this resource (system-assigned) or this identity. */
  getPrincipalByResourceId(resourceId: string): Promise<PrincipalRecord | undefined>;
  deletePrincipal(objectId: string): Promise<void>;
  listPrincipals(kind?: PrincipalKind): Promise<PrincipalRecord[]>;

  addSecret(secret: SecretRecord): Promise<void>;
  listSecrets(principalId: string): Promise<SecretRecord[]>;
  getSecret(id: string): Promise<SecretRecord | undefined>;
  deleteSecret(id: string): Promise<boolean>;

  putResource(resource: NewResource): Promise<ResourceRecord>;
  /**
   * Stores a resource only if none has its id (compare-and-set for ids allocated by counting,
   * which several replicas may pick at once); undefined when the id was taken.
   */
  createResource(resource: NewResource): Promise<ResourceRecord | undefined>;
  /**
   * Stores a resource only if its stored version is still `expectedVersion` (compare-and-set:
   * another replica may have written it since it was read); undefined when it changed or is gone.
   */
  replaceResource(
    resource: NewResource,
    expectedVersion: number,
  ): Promise<ResourceRecord | undefined>;
  /**
   * Changes a resource's properties from what is stored now: `change` gets them and returns the
   * new ones, or undefined to leave the resource as it is. A write that another replica's
   * write overtook is read and changed again, so no write is lost. Returns the stored resource
   * (undefined if there is none).
   */
  updateResourceProperties(
    id: string,
    change: (properties: Record<string, unknown>) => Record<string, unknown> | undefined,
  ): Promise<ResourceRecord | undefined>;
  getResource(id: string): Promise<ResourceRecord | undefined>;
  deleteResource(id: string): Promise<boolean>;
  listResources(filter: {
    subscriptionId: string;
    resourceGroup?: string;
    type?: string;
  }): Promise<ResourceRecord[]>;

  createRoleAssignment(
    assignment: Omit<RoleAssignmentRecord, 'createdAt' | 'updatedAt'>,
  ): Promise<RoleAssignmentRecord>;
  getRoleAssignment(name: string): Promise<RoleAssignmentRecord | undefined>;
  deleteRoleAssignment(name: string): Promise<boolean>;
  /** Assignments whose scope is `scope` or one of its parents (what applies there). */
  listRoleAssignmentsApplyingTo(
    scope: string,
    principalId?: string,
  ): Promise<RoleAssignmentRecord[]>;
  /** Assignments at `scope` or anywhere below it. */
  listRoleAssignmentsUnder(scope: string): Promise<RoleAssignmentRecord[]>;
  listRoleAssignmentsForPrincipal(principalId: string): Promise<RoleAssignmentRecord[]>;

  putRegistryCredential(credential: RegistryCredentialRecord): Promise<void>;
  listRegistryCredentials(registryId: string): Promise<RegistryCredentialRecord[]>;

  /**
   * A value that changes whenever principals, secrets, resources, role assignments or admin
   * credentials change, or a registry is created or deleted (through any replica): while it
   * stands still, earlier reads still hold.
   */
  accessGeneration(): Promise<string>;
  /**
   * How many writes to those tables this process has made: it moves at once, where the
   * generation is read at most once per event-loop turn (see access/control-plane-reads).
   */
  localAccessWrites(): number;
}

/**
 * The scopes that contain `scope`, itself included, lower-cased: `/subscriptions/s`,
 * `/subscriptions/s/resourcegroups/rg`, `.../providers/<namespace>/<type>/<name>`, and child
 * resources below that (`.../registries/r/tokens/t`).
 */
export function scopeAncestors(scope: string): string[] {
  const parts = scope.toLowerCase().split('/').filter(Boolean);
  const ancestors: string[] = [];
  // ARM scopes grow in (segment, name) pairs, except `providers/<namespace>/<type>/<name>`.
  for (let i = 0; i < parts.length;) {
    i += parts[i] === 'providers' ? 4 : 2;
    if (i <= parts.length) ancestors.push(`/${parts.slice(0, i).join('/')}`);
  }
  return ancestors;
}
