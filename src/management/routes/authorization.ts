/**
 * @module management/routes/authorization
 * `Microsoft.Authorization`: the built-in role definitions (real ids, `$filter=roleName eq`) and
 * role assignments at any scope (client-chosen GUIDs, 409 RoleAssignmentExists, `atScope()`,
 * ABAC conditions compiled before they are stored). Deleting an assignment takes effect on the
 * data plane's next request: nothing caches what a principal may do.
 */
import type { RoleAssignmentRecord } from '../../metadata/index.js';
import {
  compileCondition,
  ConditionError,
  roleById,
  roleByName,
  roleDefinitionGuid,
  BUILT_IN_ROLES,
  type RoleDefinition,
} from '../../rbac/index.js';
import { ArmError } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import { AUTHORIZATION_API_VERSIONS, checkApiVersion } from '../api-versions.js';
import type { ManagementContext } from '../context.js';
import { parseResourceId } from '../resource-id.js';
import { REGISTRY_TYPE } from '../registry-resource.js';

const PROVIDER = '/providers/Microsoft.Authorization';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function subscriptionOf(scope: string): string | undefined {
  return parseResourceId(scope)?.subscriptionId;
}

function roleDefinitionId(scope: string, guid: string): string {
  // ARM reports built-in role definition ids in subscription form wherever they were listed.
  const subscription = subscriptionOf(scope);
  return subscription
    ? `/subscriptions/${subscription}${PROVIDER}/roleDefinitions/${guid}`
    : `${PROVIDER}/roleDefinitions/${guid}`;
}

function roleToArm(scope: string, role: RoleDefinition) {
  return {
    id: roleDefinitionId(scope, role.id),
    name: role.id,
    type: 'Microsoft.Authorization/roleDefinitions',
    properties: {
      roleName: role.roleName,
      type: 'BuiltInRole',
      description: role.description,
      assignableScopes: ['/'],
      permissions: [role.permissions],
      createdOn: '2018-01-01T00:00:00.0000000Z',
      updatedOn: '2025-01-01T00:00:00.0000000Z',
      createdBy: null,
      updatedBy: null,
    },
  };
}

export function assignmentToArm(assignment: RoleAssignmentRecord) {
  return {
    id: `${assignment.scope}${PROVIDER}/roleAssignments/${assignment.name}`,
    name: assignment.name,
    type: 'Microsoft.Authorization/roleAssignments',
    properties: {
      roleDefinitionId: roleDefinitionId(assignment.scope, assignment.roleDefinitionId),
      principalId: assignment.principalId,
      principalType: assignment.principalType,
      scope: assignment.scope,
      condition: assignment.condition,
      conditionVersion: assignment.conditionVersion,
      description: assignment.description,
      createdOn: assignment.createdAt,
      updatedOn: assignment.updatedAt,
      createdBy: assignment.createdBy,
      updatedBy: assignment.createdBy,
      delegatedManagedIdentityResourceId: null,
    },
  };
}

/** Whether a scope names something that exists: a subscription, group, registry or resource. */
async function scopeExists(context: ManagementContext, scope: string): Promise<boolean> {
  const parsed = parseResourceId(scope);
  if (!parsed) return false;
  if (!(await context.controlPlane.getSubscription(parsed.subscriptionId))) return false;
  if (!parsed.resourceGroup) return true;
  const groupId = `/subscriptions/${parsed.subscriptionId}/resourceGroups/${parsed.resourceGroup}`;
  if (!(await context.controlPlane.getResource(groupId))) return false;
  if (!parsed.type) return true;
  if (parsed.type.toLowerCase().startsWith(REGISTRY_TYPE.toLowerCase())) {
    const registry = await context.metadata.getRegistryByName(parsed.name!.split('/')[0]!);
    return registry?.arm?.resourceGroup.toLowerCase() === parsed.resourceGroup.toLowerCase();
  }
  return (await context.controlPlane.getResource(scope)) !== undefined;
}

function normalizeScope(scope: string): string {
  return scope.replace(/\/+$/, '');
}

export function registerAuthorizationRoutes(router: ArmRouter, context: ManagementContext): void {
  const { auth, controlPlane } = context;

  router.addScoped('GET', `${PROVIDER}/roleDefinitions`, async ({ scope, query, apiVersion }) => {
    checkApiVersion(apiVersion, AUTHORIZATION_API_VERSIONS, 'roleDefinitions');
    const filter = query.get('$filter');
    let roles: readonly RoleDefinition[] = BUILT_IN_ROLES;
    if (filter) {
      const byName = /^\s*roleName\s+eq\s+'([^']*)'\s*$/i.exec(filter);
      const byType = /^\s*type\s+eq\s+'([^']*)'\s*$/i.exec(filter);
      if (byName) {
        const role = roleByName(byName[1]!);
        roles = role ? [role] : [];
      } else if (byType) {
        roles = byType[1]!.toLowerCase() === 'builtinrole' ? BUILT_IN_ROLES : [];
      } else {
        throw new ArmError(400, 'InvalidFilter', `The filter '${filter}' is not supported.`);
      }
    }
    return { value: roles.map((role) => roleToArm(scope, role)) };
  });

  router.addScoped(
    'GET',
    `${PROVIDER}/roleDefinitions/:id`,
    async ({ scope, params, apiVersion }) => {
      checkApiVersion(apiVersion, AUTHORIZATION_API_VERSIONS, 'roleDefinitions');
      const role = roleById(params.id!);
      if (!role)
        throw new ArmError(
          404,
          'RoleDefinitionDoesNotExist',
          "The specified role definition with ID '" + params.id + "' does not exist.",
        );
      return roleToArm(scope, role);
    },
  );

  router.addScoped(
    'GET',
    `${PROVIDER}/roleAssignments`,
    async ({ caller, scope, query, apiVersion }) => {
      checkApiVersion(apiVersion, AUTHORIZATION_API_VERSIONS, 'roleAssignments');
      if (!scope) {
        throw new ArmError(
          400,
          'InvalidScope',
          'List role assignments at a scope: a subscription, resource group or resource.',
        );
      }
      const target = normalizeScope(scope);
      await auth.authorize(caller, 'Microsoft.Authorization/roleAssignments/read', target);
      const filter = query.get('$filter')?.trim();
      let assignments: RoleAssignmentRecord[];
      if (filter && /^atScope\(\)$/i.test(filter)) {
        assignments = await controlPlane.listRoleAssignmentsApplyingTo(target);
      } else {
        const above = await controlPlane.listRoleAssignmentsApplyingTo(target);
        const below = await controlPlane.listRoleAssignmentsUnder(target);
        const seen = new Set<string>();
        assignments = [...above, ...below].filter((a) => !seen.has(a.name) && seen.add(a.name));
        const principal =
          filter && /^(?:principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))$/i.exec(filter);
        if (filter && !principal)
          throw new ArmError(400, 'InvalidFilter', `The filter '${filter}' is not supported.`);
        if (principal) {
          const id = (principal[1] ?? principal[2])!.toLowerCase();
          assignments = assignments.filter((a) => a.principalId === id);
        }
      }
      return { value: assignments.map(assignmentToArm) };
    },
  );

  router.addScoped(
    'GET',
    `${PROVIDER}/roleAssignments/:name`,
    async ({ caller, scope, params, apiVersion }) => {
      checkApiVersion(apiVersion, AUTHORIZATION_API_VERSIONS, 'roleAssignments');
      await auth.authorize(
        caller,
        'Microsoft.Authorization/roleAssignments/read',
        normalizeScope(scope),
      );
      const assignment = await controlPlane.getRoleAssignment(params.name!);
      if (!assignment || assignment.scope.toLowerCase() !== normalizeScope(scope).toLowerCase()) {
        throw new ArmError(
          404,
          'RoleAssignmentNotFound',
          "The role assignment '" + params.name + "' is not found.",
        );
      }
      return assignmentToArm(assignment);
    },
  );

  router.addScoped(
    'PUT',
    `${PROVIDER}/roleAssignments/:name`,
    async ({ caller, scope, params, body, apiVersion, reply }) => {
      checkApiVersion(apiVersion, AUTHORIZATION_API_VERSIONS, 'roleAssignments');
      const target = normalizeScope(scope);
      const name = params.name!.toLowerCase();
      if (!GUID.test(name)) {
        throw new ArmError(
          400,
          'InvalidRoleAssignmentId',
          `The role assignment ID '${params.name}' is not valid. The role assignment ID must be a GUID.`,
        );
      }
      await auth.authorize(caller, 'Microsoft.Authorization/roleAssignments/write', target);
      if (!(await scopeExists(context, target))) {
        throw new ArmError(
          400,
          'InvalidScope',
          `The scope '${target}' is not valid or does not exist.`,
        );
      }
      const properties = (body as { properties?: Record<string, unknown> } | undefined)?.properties;
      if (
        !properties ||
        typeof properties.roleDefinitionId !== 'string' ||
        typeof properties.principalId !== 'string'
      ) {
        throw new ArmError(
          400,
          'InvalidRequestContent',
          "The request must have properties 'roleDefinitionId' and 'principalId'.",
        );
      }
      const role = roleById(roleDefinitionGuid(properties.roleDefinitionId));
      if (!role)
        throw new ArmError(
          400,
          'RoleDefinitionDoesNotExist',
          `The specified role definition with ID '${roleDefinitionGuid(properties.roleDefinitionId)}' does not exist.`,
        );
      const principal = await controlPlane.getPrincipal(properties.principalId);
      if (!principal) {
        throw new ArmError(
          400,
          'PrincipalNotFound',
          `Principal ${properties.principalId.replace(/-/g, '')} does not exist in the directory ${caller.principal.tenantId}. Check that you have the correct principal ID.`,
        );
      }
      const condition =
        typeof properties.condition === 'string' && properties.condition.trim()
          ? properties.condition
          : null;
      if (condition) {
        try {
          compileCondition(condition);
        } catch (error) {
          if (error instanceof ConditionError)
            throw new ArmError(
              400,
              'InvalidCondition',
              `The condition is not valid: ${error.message}.`,
            );
          throw error;
        }
      }
      const existing = await controlPlane.getRoleAssignment(name);
      if (existing) {
        const same =
          existing.principalId === principal.objectId &&
          existing.roleDefinitionId === role.id &&
          existing.scope.toLowerCase() === target.toLowerCase();
        if (!same)
          throw new ArmError(
            400,
            'RoleAssignmentUpdateNotPermitted',
            'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.',
          );
        reply.code(200);
        return assignmentToArm(existing);
      }
      const duplicate = (
        await controlPlane.listRoleAssignmentsForPrincipal(principal.objectId)
      ).find(
        (a) =>
          a.roleDefinitionId === role.id &&
          a.scope.toLowerCase() === target.toLowerCase() &&
          (a.condition ?? null) === condition,
      );
      if (duplicate)
        throw new ArmError(409, 'RoleAssignmentExists', 'The role assignment already exists.');
      const created = await controlPlane.createRoleAssignment({
        name,
        scope: target,
        roleDefinitionId: role.id,
        principalId: principal.objectId,
        principalType:
          typeof properties.principalType === 'string'
            ? properties.principalType
            : principal.kind === 'ManagedIdentity'
              ? 'ServicePrincipal'
              : 'ServicePrincipal',
        condition,
        conditionVersion: condition ? String(properties.conditionVersion ?? '2.0') : null,
        description: typeof properties.description === 'string' ? properties.description : null,
        createdBy: caller.principal.objectId,
      });
      reply.code(201);
      return assignmentToArm(created);
    },
  );

  router.addScoped(
    'DELETE',
    `${PROVIDER}/roleAssignments/:name`,
    async ({ caller, scope, params, apiVersion, reply }) => {
      checkApiVersion(apiVersion, AUTHORIZATION_API_VERSIONS, 'roleAssignments');
      const target = normalizeScope(scope);
      await auth.authorize(caller, 'Microsoft.Authorization/roleAssignments/delete', target);
      const assignment = await controlPlane.getRoleAssignment(params.name!);
      if (!assignment || assignment.scope.toLowerCase() !== target.toLowerCase()) {
        reply.code(204);
        return '';
      }
      await controlPlane.deleteRoleAssignment(assignment.name);
      return assignmentToArm(assignment);
    },
  );
}
