/**
 * @module rbac/scope-map
 * Scope maps: the repository permissions of ACR's non-Entra tokens, as action strings
 * `repositories/<repository>/<action>` where the repository may end in `/*` (a prefix) or be `*`
 * (all), and the action is content/read|write|delete or metadata/read|write.
 */
import type { RepositoryAction } from './data-permissions.js';

const SCOPE_MAP_ACTION =
  /^repositories\/([a-z0-9*][a-z0-9._\-/*]*)\/(content\/read|content\/write|content\/delete|metadata\/read|metadata\/write)$/;

export class ScopeMapError extends Error {
  override name = 'ScopeMapError';
}

/** Validates one action string; returns it normalised (lower-case). */
export function parseScopeMapAction(action: string): string {
  const normalized = action.trim().toLowerCase();
  if (!SCOPE_MAP_ACTION.test(normalized)) {
    throw new ScopeMapError(
      `Invalid scope map action '${action}'. Use 'repositories/<repository>/<content/read|content/write|content/delete|metadata/read|metadata/write>'.`,
    );
  }
  return normalized;
}

function repositoryMatches(pattern: string, repository: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return repository.startsWith(pattern.slice(0, -1));
  return pattern === repository;
}

/** Whether a scope map's actions allow `action` on `repository`. */
export function scopeMapAllows(
  actions: string[],
  repository: string,
  action: RepositoryAction,
): boolean {
  return actions.some((entry) => {
    const match = SCOPE_MAP_ACTION.exec(entry.toLowerCase());
    return match !== null && match[2] === action && repositoryMatches(match[1]!, repository);
  });
}

/** ACR's built-in scope maps (type SystemDefined). */
export const SYSTEM_SCOPE_MAPS: Record<string, { description: string; actions: string[] }> = {
  _repositories_pull: {
    description: 'Can pull any repository of the registry',
    actions: ['repositories/*/content/read'],
  },
  _repositories_pull_metadata_read: {
    description: 'Can perform all read operations on the registry',
    actions: ['repositories/*/content/read', 'repositories/*/metadata/read'],
  },
  _repositories_push: {
    description: 'Can push to any repository of the registry',
    actions: ['repositories/*/content/read', 'repositories/*/content/write'],
  },
  _repositories_push_metadata_write: {
    description: 'Can perform all read and write operations on the registry',
    actions: [
      'repositories/*/metadata/read',
      'repositories/*/metadata/write',
      'repositories/*/content/read',
      'repositories/*/content/write',
    ],
  },
  _repositories_admin: {
    description: 'Can perform all read, write and delete operations on the registry',
    actions: [
      'repositories/*/metadata/read',
      'repositories/*/metadata/write',
      'repositories/*/content/read',
      'repositories/*/content/write',
      'repositories/*/content/delete',
    ],
  },
};
