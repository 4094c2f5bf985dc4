export { compileCondition, ConditionError, type CompiledCondition } from './abac-condition.js';
export { actionMatches, permissionAllowsAction, permissionAllowsDataAction } from './actions.js';
export {
  DataPermissions,
  REPOSITORY_ACTIONS,
  type AssignedRole,
  type GrantReason,
  type RepositoryAction,
  type RoleAssignmentMode,
} from './data-permissions.js';
export {
  BUILT_IN_ROLES,
  roleById,
  roleByName,
  roleDefinitionGuid,
  type RoleDefinition,
  type RolePermission,
} from './roles.js';
export {
  parseScopeMapAction,
  scopeMapAllows,
  ScopeMapError,
  SYSTEM_SCOPE_MAPS,
} from './scope-map.js';
