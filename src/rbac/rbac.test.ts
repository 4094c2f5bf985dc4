import { describe, expect, it } from 'vitest';
import { compileCondition, ConditionError } from './abac-condition.js';
import { actionMatches } from './actions.js';
import { DataPermissions } from './data-permissions.js';
import { roleByName } from './roles.js';

const ACR = 'Microsoft.ContainerRegistry/registries';
const readOnly = `(
 (
  !(ActionMatches{'${ACR}/repositories/content/read'})
  AND
  !(ActionMatches{'${ACR}/repositories/metadata/read'})
 )
 OR
 (
  @Request[${ACR}/repositories:name] StringEqualsIgnoreCase 'nginx'
  OR
  @Request[${ACR}/repositories:name] StringStartsWithIgnoreCase 'backend/'
 )
)`;

function permissions(
  roleName: string,
  mode: 'LegacyRegistryPermissions' | 'AbacRepositoryPermissions',
  condition?: string,
) {
  const role = roleByName(roleName);
  if (!role) throw new Error(roleName);
  return DataPermissions.fromAssignments(
    [{ assignmentId: 'ra-1', role, condition: condition ?? null }],
    mode,
  );
}

describe('actionMatches', () => {
  it('matches ARM wildcards case-insensitively', () => {
    expect(actionMatches('*', 'Microsoft.ContainerRegistry/registries/write')).toBe(true);
    expect(actionMatches('*/read', 'microsoft.containerregistry/registries/read')).toBe(true);
    expect(actionMatches('*/read', 'Microsoft.ContainerRegistry/registries/write')).toBe(false);
    expect(
      actionMatches(
        'Microsoft.Authorization/*/Write',
        'Microsoft.Authorization/roleAssignments/write',
      ),
    ).toBe(true);
  });
});

describe('legacy registry roles', () => {
  it.each([
    ['AcrPull', ['content/read', 'metadata/read'], true],
    ['AcrPush', ['content/read', 'metadata/read', 'content/write', 'metadata/write'], true],
    ['AcrDelete', ['content/delete', 'metadata/delete'], false],
    ['Owner', ['content/read', 'content/write', 'content/delete'], true],
    ['Contributor', ['content/read', 'content/write', 'content/delete'], true],
    ['Reader', ['content/read', 'metadata/read'], true],
  ] as const)('%s grants %j', (roleName, actions, catalog) => {
    const granted = permissions(roleName, 'LegacyRegistryPermissions');
    for (const action of actions)
      expect(granted.allows('any/repo', action)?.roleName).toBe(roleName);
    expect(Boolean(granted.allowsCatalog())).toBe(catalog);
  });

  it('AcrPull cannot push and Reader cannot delete', () => {
    expect(
      permissions('AcrPull', 'LegacyRegistryPermissions').allows('r', 'content/write'),
    ).toBeUndefined();
    expect(
      permissions('Reader', 'LegacyRegistryPermissions').allows('r', 'content/delete'),
    ).toBeUndefined();
  });

  it('grants no data access through the data-access administrator role', () => {
    expect(
      permissions(
        'Container Registry Contributor and Data Access Configuration Administrator',
        'LegacyRegistryPermissions',
      ).isEmpty(),
    ).toBe(true);
  });

  it('is not honoured in ABAC mode', () => {
    expect(permissions('AcrPush', 'AbacRepositoryPermissions').isEmpty()).toBe(true);
    expect(permissions('Owner', 'AbacRepositoryPermissions').isEmpty()).toBe(true);
  });
});

describe('ABAC repository roles', () => {
  it('are registry-wide without a condition', () => {
    const granted = permissions(
      'Container Registry Repository Reader',
      'AbacRepositoryPermissions',
    );
    expect(granted.allows('anything', 'content/read')).toBeDefined();
    expect(granted.allows('anything', 'content/write')).toBeUndefined();
    expect(granted.allowsCatalog()).toBeUndefined();
  });

  it('are narrowed by repository-name conditions', () => {
    const granted = permissions(
      'Container Registry Repository Writer',
      'AbacRepositoryPermissions',
      readOnly,
    );
    expect(granted.allows('nginx', 'content/read')).toBeDefined();
    expect(granted.allows('NGINX', 'metadata/read')).toBeDefined();
    expect(granted.allows('backend/api', 'content/read')).toBeDefined();
    expect(granted.allows('backend-infra/k8s', 'content/read')).toBeUndefined();
    expect(granted.allows('other', 'content/read')).toBeUndefined();
    // The condition only constrains the actions it names: writes stay registry-wide.
    expect(granted.allows('other', 'content/write')).toBeDefined();
  });

  it('grant nothing when the condition cannot be read (fail closed)', () => {
    const granted = permissions(
      'Container Registry Repository Reader',
      'AbacRepositoryPermissions',
      '((broken',
    );
    expect(granted.isEmpty()).toBe(true);
  });
});

describe('compileCondition', () => {
  it.each([
    "@Request[Other:attr] StringEquals 'x'",
    "@Request[Microsoft.ContainerRegistry/registries/repositories:name] Frobnicate 'x'",
    '(',
    "ActionMatches{'a'} AND",
  ])('refuses %s', (text) => {
    expect(() => compileCondition(text)).toThrow(ConditionError);
  });
});
