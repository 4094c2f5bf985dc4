/**
 * @module access/scopes
 * Docker token scopes (`repository:<name>:pull,push`, `registry:catalog:*`) and what each Docker
 * action means in repository actions.
 */
import type { RepositoryAction } from '../rbac/index.js';

export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

/** Docker scope actions -> the repository actions they need. */
export const DOCKER_ACTIONS: Record<string, RepositoryAction[]> = {
  pull: ['content/read'],
  push: ['content/write'],
  delete: ['content/delete'],
  // ACR's metadata scopes (used by /acr/v1 and az acr repository).
  metadata_read: ['metadata/read'],
  metadata_write: ['metadata/write'],
  // ACR's soft-delete scopes (az acr manifest list-deleted|list-deleted-tags|restore). ACR asks
  // for registries/deleted/read and .../restore/action; here whoever may delete an artifact may
  // see it once deleted, and restoring it also writes (it moves a tag back).
  deleted_read: ['content/delete', 'metadata/read'],
  deleted_restore: ['content/delete', 'content/write', 'metadata/read'],
};

/** Parses space-separated scopes; malformed ones are dropped (a client error, not a grant). */
export function parseScopes(values: string[]): AccessEntry[] {
  const entries: AccessEntry[] = [];
  for (const value of values.flatMap((v) => v.split(' ')).filter(Boolean)) {
    // The name may contain ':' only in a registry-host form we do not serve; split from both ends.
    const first = value.indexOf(':');
    const last = value.lastIndexOf(':');
    if (first <= 0 || last === first) continue;
    const type = value.slice(0, first);
    const name = value.slice(first + 1, last);
    const actions = value
      .slice(last + 1)
      .split(',')
      .filter(Boolean);
    if ((type !== 'repository' && type !== 'registry') || !name || actions.length === 0) continue;
    entries.push({
      type,
      name,
      actions:
        actions.includes('*') && type === 'repository'
          ? ['pull', 'push', 'delete', 'metadata_read', 'metadata_write']
          : actions,
    });
  }
  return entries;
}

export function formatScope(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}
