/**
 * @module rbac/data-permissions
 * What role assignments let a principal do on a registry's data plane. Registry-level ACR roles
 * (AcrPull/AcrPush/AcrDelete and Owner/Contributor/Reader through `*` actions) count only in
 * `LegacyRegistryPermissions` mode; repository data actions (the "Container Registry Repository
 * ..." roles) count in both modes, narrowed by their ABAC condition when one is set.
 */
import { compileCondition, type CompiledCondition } from './abac-condition.js';
import { permissionAllowsAction, permissionAllowsDataAction } from './actions.js';
import type { RoleDefinition } from './roles.js';

export type RepositoryAction =
  | 'content/read'
  | 'metadata/read'
  | 'content/write'
  | 'metadata/write'
  | 'content/delete'
  | 'metadata/delete';

export const REPOSITORY_ACTIONS: readonly RepositoryAction[] = [
  'content/read',
  'metadata/read',
  'content/write',
  'metadata/write',
  'content/delete',
  'metadata/delete',
];

export type RoleAssignmentMode = 'LegacyRegistryPermissions' | 'AbacRepositoryPermissions';

const ACR = 'Microsoft.ContainerRegistry/registries';

/** Legacy registry-wide permission strings and the repository actions each one carries. */
const LEGACY_ACTIONS: ReadonlyArray<[string, RepositoryAction[]]> = [
  [`${ACR}/pull/read`, ['content/read', 'metadata/read']],
  [`${ACR}/push/write`, ['content/write', 'metadata/write']],
  [`${ACR}/artifacts/delete`, ['content/delete', 'metadata/delete']],
];

export interface AssignedRole {
  /** Role assignment id, kept so decisions can name what granted them. */
  assignmentId: string;
  role: RoleDefinition;
  condition?: string | null;
}

interface Grant {
  assignmentId: string;
  roleName: string;
  actions: Set<RepositoryAction>;
  catalog: boolean;
  /** Undefined = registry-wide. */
  condition?: CompiledCondition;
}

/** Why an action was granted: the assignment and role, for the audit record. */
export interface GrantReason {
  assignmentId: string;
  roleName: string;
}

export class DataPermissions {
  private constructor(private readonly grants: Grant[]) {}

  static fromAssignments(assigned: AssignedRole[], mode: RoleAssignmentMode): DataPermissions {
    const grants: Grant[] = [];
    for (const { assignmentId, role, condition } of assigned) {
      const actions = new Set<RepositoryAction>();
      let catalog = false;
      if (mode === 'LegacyRegistryPermissions') {
        for (const [permission, carried] of LEGACY_ACTIONS) {
          if (permissionAllowsAction(role.permissions, permission)) {
            for (const action of carried) actions.add(action);
            if (permission.endsWith('/pull/read')) catalog = true;
          }
        }
      }
      for (const action of REPOSITORY_ACTIONS) {
        if (permissionAllowsDataAction(role.permissions, `${ACR}/repositories/${action}`)) {
          actions.add(action);
        }
      }
      if (permissionAllowsDataAction(role.permissions, `${ACR}/catalog/read`)) catalog = true;
      if (actions.size === 0 && !catalog) continue;

      let compiled: CompiledCondition | undefined;
      if (condition) {
        try {
          compiled = compileCondition(condition);
        } catch {
          continue; // an unreadable condition grants nothing
        }
      }
      grants.push({
        assignmentId,
        roleName: role.roleName,
        actions,
        // Conditions never narrow catalog listing (ACR: the Catalog Lister ignores them).
        catalog: catalog && (compiled === undefined || role.roleName.includes('Catalog Lister')),
        ...(compiled ? { condition: compiled } : {}),
      });
    }
    return new DataPermissions(grants);
  }

  /** The grant that allows `action` on `repository`, if any. */
  allows(repository: string, action: RepositoryAction): GrantReason | undefined {
    for (const grant of this.grants) {
      if (!grant.actions.has(action)) continue;
      if (
        grant.condition &&
        !grant.condition({ dataAction: `${ACR}/repositories/${action}`, repository })
      ) {
        continue;
      }
      return { assignmentId: grant.assignmentId, roleName: grant.roleName };
    }
    return undefined;
  }

  allowsCatalog(): GrantReason | undefined {
    const grant = this.grants.find((g) => g.catalog);
    return grant ? { assignmentId: grant.assignmentId, roleName: grant.roleName } : undefined;
  }

  isEmpty(): boolean {
    return this.grants.length === 0;
  }
}
