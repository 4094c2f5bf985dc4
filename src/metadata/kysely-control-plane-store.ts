/**
 * @module metadata/kysely-control-plane-store
 * ControlPlaneStore over Kysely (SQLite today, PostgreSQL with the same queries later).
 */
import type { Kysely, Selectable } from 'kysely';
import type { AccessWriteCounter } from './access-writes.js';
import {
  scopeAncestors,
  type ControlPlaneStore,
  type NewResource,
  type PrincipalKind,
  type PrincipalRecord,
  type RegistryCredentialRecord,
  type ResourceRecord,
  type RoleAssignmentRecord,
  type SecretRecord,
  type SubscriptionRecord,
  type TenantRecord,
} from './control-plane-store.js';
import type {
  PrincipalsTable,
  ResourcesTable,
  RoleAssignmentsTable,
  Database,
  PrincipalSecretsTable,
} from './schema.js';

function now(): string {
  return new Date().toISOString();
}

function json<T>(text: string | null): T | null {
  return text ? (JSON.parse(text) as T) : null;
}

function toPrincipal(row: PrincipalsTable): PrincipalRecord {
  return {
    objectId: row.object_id,
    tenantId: row.tenant_id,
    appId: row.app_id,
    kind: row.kind as PrincipalKind,
    displayName: row.display_name,
    resourceId: row.resource_id,
    createdAt: row.created_at,
  };
}

function toSecret(row: PrincipalSecretsTable): SecretRecord {
  return {
    id: row.id,
    principalId: row.principal_id,
    hash: row.hash,
    hint: row.hint,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

function toResource(row: Selectable<ResourcesTable>): ResourceRecord {
  return {
    id: row.id,
    type: row.type,
    subscriptionId: row.subscription_id,
    resourceGroup: row.resource_group_lower,
    name: row.name,
    location: row.location,
    tags: json(row.tags),
    sku: json(row.sku),
    identity: json(row.identity),
    properties: JSON.parse(row.properties) as Record<string, unknown>,
    systemData: json(row.system_data),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
  };
}

function toAssignment(row: RoleAssignmentsTable): RoleAssignmentRecord {
  return {
    name: row.name,
    scope: row.scope,
    roleDefinitionId: row.role_definition_id,
    principalId: row.principal_id,
    principalType: row.principal_type,
    condition: row.condition,
    conditionVersion: row.condition_version,
    description: row.description,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class KyselyControlPlaneStore implements ControlPlaneStore {
  constructor(
    private readonly db: Kysely<Database>,
    /** The counter plugged into `db` (KyselyMetadataStore.accessWrites). */
    private readonly accessWrites: AccessWriteCounter,
  ) {}

  async createTenant(tenant: TenantRecord): Promise<void> {
    await this.db
      .insertInto('tenants')
      .values({ id: tenant.id, display_name: tenant.displayName, created_at: now() })
      .execute();
  }

  async getTenant(id: string): Promise<TenantRecord | undefined> {
    const row = await this.db
      .selectFrom('tenants')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? { id: row.id, displayName: row.display_name } : undefined;
  }

  async createSubscription(subscription: SubscriptionRecord): Promise<void> {
    await this.db
      .insertInto('subscriptions')
      .values({
        id: subscription.id,
        tenant_id: subscription.tenantId,
        display_name: subscription.displayName,
        state: subscription.state,
        created_at: now(),
      })
      .execute();
  }

  async getSubscription(id: string): Promise<SubscriptionRecord | undefined> {
    const row = await this.db
      .selectFrom('subscriptions')
      .selectAll()
      .where('id', '=', id.toLowerCase())
      .executeTakeFirst();
    return row
      ? { id: row.id, tenantId: row.tenant_id, displayName: row.display_name, state: row.state }
      : undefined;
  }

  async listSubscriptions(): Promise<SubscriptionRecord[]> {
    const rows = await this.db.selectFrom('subscriptions').selectAll().orderBy('id').execute();
    return rows.map((row) => ({
      id: row.id,
      tenantId: row.tenant_id,
      displayName: row.display_name,
      state: row.state,
    }));
  }

  async createPrincipal(principal: Omit<PrincipalRecord, 'createdAt'>): Promise<PrincipalRecord> {
    const createdAt = now();
    await this.db
      .insertInto('principals')
      .values({
        object_id: principal.objectId,
        tenant_id: principal.tenantId,
        app_id: principal.appId,
        kind: principal.kind,
        display_name: principal.displayName,
        resource_id: principal.resourceId?.toLowerCase() ?? null,
        created_at: createdAt,
      })
      .execute();
    return { ...principal, resourceId: principal.resourceId?.toLowerCase() ?? null, createdAt };
  }

  async getPrincipal(objectId: string): Promise<PrincipalRecord | undefined> {
    const row = await this.db
      .selectFrom('principals')
      .selectAll()
      .where('object_id', '=', objectId.toLowerCase())
      .executeTakeFirst();
    return row ? toPrincipal(row) : undefined;
  }

  async getPrincipalByAppId(appId: string): Promise<PrincipalRecord | undefined> {
    const row = await this.db
      .selectFrom('principals')
      .selectAll()
      .where('app_id', '=', appId.toLowerCase())
      .executeTakeFirst();
    return row ? toPrincipal(row) : undefined;
  }

  async getPrincipalByResourceId(resourceId: string): Promise<PrincipalRecord | undefined> {
    const row = await this.db
      .selectFrom('principals')
      .selectAll()
      .where('resource_id', '=', resourceId.toLowerCase())
      .executeTakeFirst();
    return row ? toPrincipal(row) : undefined;
  }

  async deletePrincipal(objectId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('principal_secrets').where('principal_id', '=', objectId).execute();
      await trx.deleteFrom('role_assignments').where('principal_id', '=', objectId).execute();
      await trx.deleteFrom('principals').where('object_id', '=', objectId).execute();
    });
  }

  async listPrincipals(kind?: PrincipalKind): Promise<PrincipalRecord[]> {
    let query = this.db.selectFrom('principals').selectAll().orderBy('display_name');
    if (kind) query = query.where('kind', '=', kind);
    return (await query.execute()).map(toPrincipal);
  }

  async addSecret(secret: SecretRecord): Promise<void> {
    await this.db
      .insertInto('principal_secrets')
      .values({
        id: secret.id,
        principal_id: secret.principalId,
        hash: secret.hash,
        hint: secret.hint,
        created_at: secret.createdAt,
        expires_at: secret.expiresAt,
      })
      .execute();
  }

  async listSecrets(principalId: string): Promise<SecretRecord[]> {
    const rows = await this.db
      .selectFrom('principal_secrets')
      .selectAll()
      .where('principal_id', '=', principalId)
      .orderBy('created_at')
      .execute();
    return rows.map(toSecret);
  }

  async getSecret(id: string): Promise<SecretRecord | undefined> {
    const row = await this.db
      .selectFrom('principal_secrets')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toSecret(row) : undefined;
  }

  async deleteSecret(id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('principal_secrets')
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async putResource(resource: NewResource): Promise<ResourceRecord> {
    const values = resourceColumns(resource);
    await this.db
      .insertInto('resources')
      .values({ id_lower: resource.id.toLowerCase(), created_at: values.updated_at, ...values })
      .onConflict((oc) =>
        oc
          .column('id_lower')
          .doUpdateSet((eb) => ({ ...values, version: eb('resources.version', '+', 1) })),
      )
      .execute();
    const stored = await this.getResource(resource.id);
    if (!stored) throw new Error('resource vanished after write');
    return stored;
  }

  async replaceResource(
    resource: NewResource,
    expectedVersion: number,
  ): Promise<ResourceRecord | undefined> {
    const result = await this.db
      .updateTable('resources')
      .set((eb) => ({ ...resourceColumns(resource), version: eb('version', '+', 1) }))
      .where('id_lower', '=', resource.id.toLowerCase())
      .where('version', '=', expectedVersion)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    return this.getResource(resource.id);
  }

  async updateResourceProperties(
    id: string,
    change: (properties: Record<string, unknown>) => Record<string, unknown> | undefined,
  ): Promise<ResourceRecord | undefined> {
    // Each lost race means another write landed; a bound keeps a bug from spinning forever.
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const current = await this.getResource(id);
      if (!current) return undefined;
      const properties = change(current.properties);
      if (!properties) return current;
      const stored = await this.replaceResource({ ...current, properties }, current.version);
      if (stored) return stored;
    }
    throw new Error(`resource ${id} kept changing while it was being updated`);
  }

  async createResource(resource: NewResource): Promise<ResourceRecord | undefined> {
    const values = resourceColumns(resource);
    const result = await this.db
      .insertInto('resources')
      .values({ id_lower: resource.id.toLowerCase(), created_at: values.updated_at, ...values })
      .onConflict((oc) => oc.column('id_lower').doNothing())
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0) === 0) return undefined;
    return this.getResource(resource.id);
  }

  async getResource(id: string): Promise<ResourceRecord | undefined> {
    const row = await this.db
      .selectFrom('resources')
      .selectAll()
      .where('id_lower', '=', id.toLowerCase())
      .executeTakeFirst();
    return row ? toResource(row) : undefined;
  }

  async deleteResource(id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('resources')
      .where('id_lower', '=', id.toLowerCase())
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listResources(filter: {
    subscriptionId: string;
    resourceGroup?: string;
    type?: string;
  }): Promise<ResourceRecord[]> {
    let query = this.db
      .selectFrom('resources')
      .selectAll()
      .where('subscription_id', '=', filter.subscriptionId.toLowerCase())
      .orderBy('id_lower');
    if (filter.resourceGroup !== undefined) {
      query = query.where('resource_group_lower', '=', filter.resourceGroup.toLowerCase());
    }
    if (filter.type !== undefined)
      query = query.where('type_lower', '=', filter.type.toLowerCase());
    return (await query.execute()).map(toResource);
  }

  async createRoleAssignment(
    assignment: Omit<RoleAssignmentRecord, 'createdAt' | 'updatedAt'>,
  ): Promise<RoleAssignmentRecord> {
    const timestamp = now();
    await this.db
      .insertInto('role_assignments')
      .values({
        name: assignment.name.toLowerCase(),
        scope: assignment.scope,
        scope_lower: assignment.scope.toLowerCase().replace(/\/+$/, ''),
        role_definition_id: assignment.roleDefinitionId.toLowerCase(),
        principal_id: assignment.principalId.toLowerCase(),
        principal_type: assignment.principalType,
        condition: assignment.condition,
        condition_version: assignment.conditionVersion,
        description: assignment.description,
        created_by: assignment.createdBy,
        created_at: timestamp,
        updated_at: timestamp,
      })
      .execute();
    return (await this.getRoleAssignment(assignment.name))!;
  }

  async getRoleAssignment(name: string): Promise<RoleAssignmentRecord | undefined> {
    const row = await this.db
      .selectFrom('role_assignments')
      .selectAll()
      .where('name', '=', name.toLowerCase())
      .executeTakeFirst();
    return row ? toAssignment(row) : undefined;
  }

  async deleteRoleAssignment(name: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('role_assignments')
      .where('name', '=', name.toLowerCase())
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listRoleAssignmentsApplyingTo(
    scope: string,
    principalId?: string,
  ): Promise<RoleAssignmentRecord[]> {
    let query = this.db
      .selectFrom('role_assignments')
      .selectAll()
      .where('scope_lower', 'in', scopeAncestors(scope))
      .orderBy('created_at');
    if (principalId !== undefined)
      query = query.where('principal_id', '=', principalId.toLowerCase());
    return (await query.execute()).map(toAssignment);
  }

  async listRoleAssignmentsUnder(scope: string): Promise<RoleAssignmentRecord[]> {
    const lower = scope.toLowerCase().replace(/\/+$/, '');
    const rows = await this.db
      .selectFrom('role_assignments')
      .selectAll()
      // A prefix test, not LIKE: scope names may contain LIKE's wildcard '_'.
      .where((eb) =>
        eb.or([
          eb('scope_lower', '=', lower),
          eb(
            eb.fn('substr', ['scope_lower', eb.val(1), eb.val(lower.length + 1)]),
            '=',
            `${lower}/`,
          ),
        ]),
      )
      .orderBy('created_at')
      .execute();
    return rows.map(toAssignment);
  }

  async listRoleAssignmentsForPrincipal(principalId: string): Promise<RoleAssignmentRecord[]> {
    const rows = await this.db
      .selectFrom('role_assignments')
      .selectAll()
      .where('principal_id', '=', principalId.toLowerCase())
      .orderBy('created_at')
      .execute();
    return rows.map(toAssignment);
  }

  async putRegistryCredential(credential: RegistryCredentialRecord): Promise<void> {
    const values = {
      hash: credential.hash,
      sealed: credential.sealed,
      created_at: credential.createdAt,
    };
    await this.db
      .insertInto('registry_credentials')
      .values({ registry_id: credential.registryId, name: credential.name, ...values })
      .onConflict((oc) => oc.columns(['registry_id', 'name']).doUpdateSet(values))
      .execute();
  }

  localAccessWrites(): number {
    return this.accessWrites.count;
  }

  async accessGeneration(): Promise<string> {
    const row = await this.db
      .selectFrom('access_generation')
      .select('value')
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    return String(row.value);
  }

  async listRegistryCredentials(registryId: string): Promise<RegistryCredentialRecord[]> {
    const rows = await this.db
      .selectFrom('registry_credentials')
      .selectAll()
      .where('registry_id', '=', registryId)
      .orderBy('name')
      .execute();
    return rows.map((row) => ({
      registryId: row.registry_id,
      name: row.name as 'password' | 'password2',
      hash: row.hash,
      sealed: row.sealed,
      createdAt: row.created_at,
    }));
  }
}

function resourceColumns(resource: NewResource) {
  return {
    id: resource.id,
    type_lower: resource.type.toLowerCase(),
    type: resource.type,
    subscription_id: resource.subscriptionId.toLowerCase(),
    resource_group_lower: resource.resourceGroup?.toLowerCase() ?? null,
    name: resource.name,
    location: resource.location,
    tags: resource.tags ? JSON.stringify(resource.tags) : null,
    sku: resource.sku ? JSON.stringify(resource.sku) : null,
    identity: resource.identity ? JSON.stringify(resource.identity) : null,
    properties: JSON.stringify(resource.properties),
    system_data: resource.systemData ? JSON.stringify(resource.systemData) : null,
    updated_at: now(),
  };
}
