/**
 * `identity create|show|list|delete` and `role definition list`, `role assignment
 * create|list|delete` against a live server: assignees by object id and by app id (Graph), roles
 * by name and id, a duplicate answering the existing assignment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server.js';
import { startCliSession, type CliSession } from './cli.js';

let session: CliSession;
let server: RunningServer;
let registryId: string;
const run = (...args: string[]) => session.run(...args);

beforeAll(async () => {
  session = await startCliSession();
  ({ server } = session);
  expect(run('login').status).toBe(0);
  registryId = run('acr', 'show', '-n', 'myregistry', '--query', 'id', '-o', 'tsv').stdout.trim();
});

afterAll(async () => {
  await session?.close();
});

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ACR_PULL = '7f951dda-4ed3-4680-a7ca-43fe172d538d';

interface Identity {
  clientId: string;
  principalId: string;
  id: string;
}

let builder: Identity;

describe('identity', () => {
  it('creates a user-assigned identity in az shape', () => {
    const result = run('identity', 'create', '--name', 'builder', '--resource-group', 'breakwater');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    builder = result.json<Identity>();
    expect(result.json()).toEqual({
      clientId: expect.stringMatching(GUID),
      id: `/subscriptions/${server.owner.subscriptionId}/resourceGroups/breakwater/providers/Microsoft.ManagedIdentity/userAssignedIdentities/builder`,
      location: expect.any(String),
      name: 'builder',
      principalId: expect.stringMatching(GUID),
      resourceGroup: 'breakwater',
      tags: {},
      tenantId: server.owner.tenantId,
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
    });
    expect(Object.keys(result.json<object>())).toEqual(
      [...Object.keys(result.json<object>())].sort(),
    );
  });

  it('shows and lists identities, in the subscription and in a group', () => {
    expect(run('identity', 'show', '-n', 'builder', '-g', 'breakwater').json()).toEqual(builder);
    expect(
      run('identity', 'create', '-n', 'second', '-g', 'breakwater', '--tags', 'team=ci').json(),
    ).toMatchObject({
      tags: { team: 'ci' },
    });
    expect(run('identity', 'list', '--query', '[].name').json<string[]>().sort()).toEqual([
      'builder',
      'second',
    ]);
    expect(
      run('identity', 'list', '-g', 'breakwater', '--query', '[].name', '-o', 'tsv')
        .stdout.split('\n')
        .filter(Boolean)
        .sort(),
    ).toEqual(['builder', 'second']);
    const table = run('identity', 'show', '-n', 'builder', '-g', 'breakwater', '-o', 'table');
    expect(table.stdout.split('\n')[0]).toMatch(
      /^Name\s+ResourceGroup\s+Location\s+ClientId\s+PrincipalId$/,
    );
  });

  it('reports a missing identity and missing arguments', () => {
    const missing = run('identity', 'show', '-n', 'nosuch', '-g', 'breakwater');
    expect(missing.status).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^ERROR: .*nosuch.*\n$/);
    const noGroup = run('identity', 'show', '-n', 'builder');
    expect(noGroup.status).toBe(1);
    expect(noGroup.stderr).toBe(
      'ERROR: the following arguments are required: --resource-group/-g\n',
    );
  });
});

describe('role definition list', () => {
  it('lists and finds built-in roles by name and id', () => {
    const all = run('role', 'definition', 'list', '--query', '[].roleName');
    expect(all.status).toBe(0);
    expect(all.json<string[]>()).toEqual(expect.arrayContaining(['AcrPull', 'AcrPush', 'Owner']));
    const pull = run('role', 'definition', 'list', '--name', 'AcrPull');
    expect(pull.json()).toEqual([
      expect.objectContaining({
        name: ACR_PULL,
        roleName: 'AcrPull',
        roleType: 'BuiltInRole',
        type: 'Microsoft.Authorization/roleDefinitions',
        assignableScopes: ['/'],
        permissions: expect.any(Array),
      }),
    ]);
    expect(
      run('role', 'definition', 'list', '-n', ACR_PULL, '--query', '[].roleName', '-o', 'tsv')
        .stdout,
    ).toBe('AcrPull\n');
    expect(run('role', 'definition', 'list', '-n', 'NoSuchRole').json()).toEqual([]);
  });
});

describe('role assignment', () => {
  let assignmentId: string;

  it('assigns a role to an identity by app id, in the §2.9 shape', () => {
    const result = run(
      'role',
      'assignment',
      'create',
      '--assignee',
      builder.clientId,
      '--role',
      'AcrPull',
      '--scope',
      registryId,
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const assignment = result.json<{ id: string; name: string }>();
    expect(assignment).toEqual({
      canDelegate: null,
      condition: null,
      conditionVersion: null,
      description: null,
      id: `${registryId}/providers/Microsoft.Authorization/roleAssignments/${assignment.name}`,
      name: expect.stringMatching(GUID),
      principalId: builder.principalId,
      principalType: 'ServicePrincipal',
      resourceGroup: 'breakwater',
      roleDefinitionId: `/subscriptions/${server.owner.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL}`,
      scope: registryId,
      type: 'Microsoft.Authorization/roleAssignments',
    });
    assignmentId = assignment.id;
  });

  it('answers the existing assignment for a duplicate (by object id and role id)', () => {
    const again = run(
      'role',
      'assignment',
      'create',
      '--assignee',
      builder.principalId,
      '--role',
      ACR_PULL,
      '--scope',
      registryId,
    );
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(again.json<{ id: string }>().id).toBe(assignmentId);
  });

  it('refuses an unknown role, an unknown assignee and a missing scope', () => {
    const role = run(
      'role',
      'assignment',
      'create',
      '--assignee',
      builder.principalId,
      '--role',
      'NoSuchRole',
      '--scope',
      registryId,
    );
    expect(role.status).toBe(1);
    expect(role.stderr).toBe("ERROR: Role 'NoSuchRole' doesn't exist.\n");
    const nobody = run(
      'role',
      'assignment',
      'create',
      '--assignee',
      '11111111-2222-3333-4444-555555555555',
      '--role',
      'AcrPull',
      '--scope',
      registryId,
    );
    expect(nobody.status).toBe(1);
    expect(nobody.stderr).toMatch(
      /^ERROR: Principal 11111111222233334444555555555555 does not exist/,
    );
    const noScope = run(
      'role',
      'assignment',
      'create',
      '--assignee',
      builder.principalId,
      '--role',
      'AcrPull',
    );
    expect(noScope.status).toBe(1);
    expect(noScope.stderr).toBe('ERROR: --scope is required for role assignment creation.\n');
  });

  it('lists by scope and by assignee', () => {
    const byScope = run('role', 'assignment', 'list', '--scope', registryId);
    expect(byScope.status).toBe(0);
    expect(byScope.json()).toEqual([
      expect.objectContaining({
        id: assignmentId,
        roleDefinitionName: 'AcrPull',
        principalId: builder.principalId,
      }),
    ]);
    const byAssignee = run(
      'role',
      'assignment',
      'list',
      '--assignee',
      builder.clientId,
      '--query',
      '[].roleDefinitionName',
      '-o',
      'tsv',
    );
    expect(byAssignee.stdout).toBe('AcrPull\n');
    const table = run('role', 'assignment', 'list', '--scope', registryId, '-o', 'table');
    expect(table.stdout.split('\n')[0]).toMatch(/^Principal\s+Role\s+Scope$/);
  });

  it('deletes by assignee, role and scope; nothing left to match is an error', () => {
    const removed = run(
      'role',
      'assignment',
      'delete',
      '--assignee',
      builder.clientId,
      '--role',
      'AcrPull',
      '--scope',
      registryId,
    );
    expect(removed.stderr).toBe('');
    expect(removed.status).toBe(0);
    expect(run('role', 'assignment', 'list', '--scope', registryId).json()).toEqual([]);
    const again = run(
      'role',
      'assignment',
      'delete',
      '--assignee',
      builder.clientId,
      '--scope',
      registryId,
    );
    expect(again.status).toBe(1);
    expect(again.stderr).toBe('ERROR: No matched assignments were found to delete\n');
  });

  it('deletes an identity', () => {
    expect(run('identity', 'delete', '-n', 'second', '-g', 'breakwater').status).toBe(0);
    expect(run('identity', 'list', '--query', '[].name').json()).toEqual(['builder']);
  });

  it('answers --help', () => {
    for (const args of [
      ['role', 'assignment', 'create'],
      ['role', 'definition', 'list'],
      ['identity', 'create'],
    ]) {
      const result = run(...args, '--help');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('Usage: breakwater');
    }
  });
});
