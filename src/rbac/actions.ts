/**
 * @module rbac/actions
 * ARM permission strings: `Microsoft.ContainerRegistry/registries/*`-style patterns, matched
 * case-insensitively with `*` standing for any run of characters, and actions minus notActions.
 */
import type { RolePermission } from './roles.js';

const compiled = new Map<string, RegExp>();

export function actionMatches(pattern: string, action: string): boolean {
  let regex = compiled.get(pattern);
  if (!regex) {
    const body = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*');
    regex = new RegExp(`^${body}$`, 'i');
    compiled.set(pattern, regex);
  }
  return regex.test(action);
}

/** Whether one role's control-plane permissions allow `action`. */
export function permissionAllowsAction(permission: RolePermission, action: string): boolean {
  return (
    permission.actions.some((p) => actionMatches(p, action)) &&
    !permission.notActions.some((p) => actionMatches(p, action))
  );
}

/** Whether one role's data-plane permissions allow `dataAction`. */
export function permissionAllowsDataAction(
  permission: RolePermission,
  dataAction: string,
): boolean {
  return (
    permission.dataActions.some((p) => actionMatches(p, dataAction)) &&
    !permission.notDataActions.some((p) => actionMatches(p, dataAction))
  );
}
