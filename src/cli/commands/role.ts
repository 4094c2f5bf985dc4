/**
 * @module cli/commands/role
 * `role definition list` and `role assignment create|list|delete`, shaped like az's: the
 * assignee is an object id or an app id (resolved through the management listener's Graph
 * subset), the role a name or a definition id; a duplicate assignment answers the existing one.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { errorMessage, send, type ManagementClient } from '../management-client.js';
import { print, type GlobalOptions } from '../output.js';
import { resourceGroupOf, session, withGlobals, type ArmResource, type Session } from './common.js';

export const AUTHORIZATION_API_VERSION = '2022-04-01';
const PROVIDER = '/providers/Microsoft.Authorization';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A role definition as az prints it (`properties.type` becomes `roleType`). */
function definitionView(definition: ArmResource): Record<string, unknown> {
  const { properties, ...rest } = definition;
  const { type: roleType, ...others } = properties ?? {};
  return { ...rest, ...others, roleType };
}

function assignmentView(assignment: ArmResource): Record<string, unknown> {
  const p = assignment.properties ?? {};
  return {
    canDelegate: null,
    condition: p.condition ?? null,
    conditionVersion: p.conditionVersion ?? null,
    description: p.description ?? null,
    id: assignment.id,
    name: assignment.name,
    principalId: p.principalId,
    principalType: p.principalType,
    resourceGroup: resourceGroupOf(String(p.scope ?? assignment.id)) ?? null,
    roleDefinitionId: p.roleDefinitionId,
    scope: p.scope,
    type: assignment.type,
  };
}

function defaultScope(s: Session): string {
  return `/subscriptions/${s.profile.subscriptionId}`;
}

async function definitions(
  client: ManagementClient,
  scope: string,
  name?: string,
): Promise<ArmResource[]> {
  const filter = name ? `?$filter=${encodeURIComponent(`roleName eq '${name}'`)}` : '';
  const list = await client.arm<{ value: ArmResource[] }>(
    'GET',
    `${scope}${PROVIDER}/roleDefinitions${filter}`,
    AUTHORIZATION_API_VERSION,
  );
  return list.value;
}

/** The role's definition id: a GUID or full id as given, else found by name (az's message). */
async function resolveRole(s: Session, scope: string, role: string): Promise<string> {
  if (GUID.test(role)) return `${defaultScope(s)}${PROVIDER}/roleDefinitions/${role}`;
  if (/\/providers\/Microsoft\.Authorization\/roleDefinitions\//i.test(role)) return role;
  const found = await definitions(s.client, scope, role);
  if (found.length === 0) throw new CliError(`Role '${role}' doesn't exist.`);
  return found[0]!.id;
}

/** An app id becomes its service principal's object id (Graph); anything else is an object id. */
async function resolveAssignee(s: Session, assignee: string): Promise<string> {
  const token = await s.client.accessToken();
  const filter = encodeURIComponent(`appId eq '${assignee}'`);
  const response = await send({
    method: 'GET',
    url: `${s.profile.managementUrl.replace(/\/+$/, '')}/v1.0/servicePrincipals?$filter=${filter}`,
    headers: { authorization: `Bearer ${token}` },
    ca: s.client.caPem,
  });
  if (response.status !== 200) throw new CliError(errorMessage(response));
  const found = (response.json() as { value?: { id: string }[] } | undefined)?.value ?? [];
  if (found.length > 0) return found[0]!.id;
  if (GUID.test(assignee)) return assignee;
  throw new CliError(
    `Cannot find user or service principal in graph database for '${assignee}'. If the assignee is an appId, make sure the corresponding service principal is created with 'az ad sp create --id ${assignee}'.`,
  );
}

async function listAssignments(
  s: Session,
  scope: string,
  principalId?: string,
): Promise<ArmResource[]> {
  const filter = principalId
    ? `?$filter=${encodeURIComponent(`principalId eq '${principalId}'`)}`
    : '';
  const list = await s.client.arm<{ value: ArmResource[] }>(
    'GET',
    `${scope}${PROVIDER}/roleAssignments${filter}`,
    AUTHORIZATION_API_VERSION,
  );
  return list.value;
}

interface AssignmentOptions extends GlobalOptions {
  assignee?: string;
  role?: string;
  scope?: string;
  description?: string;
  ids?: string[];
  yes?: boolean;
}

async function create(options: AssignmentOptions): Promise<void> {
  if (!options.role) throw new CliError('the following arguments are required: --role');
  if (!options.assignee) throw new CliError('the following arguments are required: --assignee');
  if (!options.scope) {
    throw new CliError('--scope is required for role assignment creation.');
  }
  const s = session();
  const scope = options.scope.replace(/\/+$/, '');
  const roleDefinitionId = await resolveRole(s, scope, options.role);
  const principalId = await resolveAssignee(s, options.assignee);
  const response = await s.client.armRaw(
    'PUT',
    `${scope}${PROVIDER}/roleAssignments/${randomUUID()}`,
    AUTHORIZATION_API_VERSION,
    {
      properties: {
        roleDefinitionId,
        principalId,
        ...(options.description ? { description: options.description } : {}),
      },
    },
  );
  if (response.status === 409) {
    // az answers the assignment that already exists.
    const guid = roleDefinitionId.split('/').at(-1)!.toLowerCase();
    const existing = (await listAssignments(s, scope, principalId)).find(
      (a) =>
        String(a.properties?.scope ?? '').toLowerCase() === scope.toLowerCase() &&
        String(a.properties?.roleDefinitionId ?? '')
          .toLowerCase()
          .endsWith(`/${guid}`),
    );
    if (existing) {
      print(assignmentView(existing), options);
      return;
    }
  }
  if (response.status < 200 || response.status >= 300) {
    throw new CliError(errorMessage(response));
  }
  print(assignmentView(response.json() as ArmResource), options);
}

async function roleNames(s: Session): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const d of await definitions(s.client, defaultScope(s))) {
    names.set(d.name.toLowerCase(), String(d.properties?.roleName ?? ''));
  }
  return names;
}

async function matching(s: Session, options: AssignmentOptions): Promise<ArmResource[]> {
  const scope = (options.scope ?? defaultScope(s)).replace(/\/+$/, '');
  const principalId = options.assignee ? await resolveAssignee(s, options.assignee) : undefined;
  let found = await listAssignments(s, scope, principalId);
  if (options.scope) {
    found = found.filter(
      (a) => String(a.properties?.scope ?? '').toLowerCase() === scope.toLowerCase(),
    );
  }
  if (options.role) {
    const guid = (await resolveRole(s, scope, options.role)).split('/').at(-1)!.toLowerCase();
    found = found.filter((a) =>
      String(a.properties?.roleDefinitionId ?? '')
        .toLowerCase()
        .endsWith(`/${guid}`),
    );
  }
  return found;
}

async function list(options: AssignmentOptions): Promise<void> {
  const s = session();
  const found = await matching(s, options);
  const names = await roleNames(s);
  print(
    found.map((a) => {
      const view = assignmentView(a);
      const guid = String(view.roleDefinitionId ?? '')
        .split('/')
        .at(-1)!
        .toLowerCase();
      return { ...view, principalName: null, roleDefinitionName: names.get(guid) ?? null };
    }),
    options,
    (result) =>
      (result as Record<string, unknown>[]).map((a) => ({
        Principal: a.principalName ?? a.principalId,
        Role: a.roleDefinitionName,
        Scope: a.scope,
      })),
  );
}

async function remove(options: AssignmentOptions): Promise<void> {
  const s = session();
  let targets: string[];
  if (options.ids && options.ids.length > 0) {
    targets = options.ids;
  } else {
    if (!options.assignee && !options.role && !options.scope) {
      throw new CliError(
        'Please provide at least one of these arguments: --ids, --assignee, --role, --scope',
      );
    }
    targets = (await matching(s, options)).map((a) => a.id);
    if (targets.length === 0) throw new CliError('No matched assignments were found to delete');
  }
  for (const id of targets) await s.client.arm('DELETE', id, AUTHORIZATION_API_VERSION);
}

export function registerRoleCommands(program: Command): void {
  const role = program.command('role').description('manage role definitions and assignments');

  const definition = role.command('definition').description('role definitions');
  withGlobals(
    definition
      .command('list')
      .description('list role definitions')
      .option('-n, --name <name>', 'a role name or definition id')
      .option('--scope <scope>', 'scope to list at (default: the subscription)'),
  ).action(async (options: GlobalOptions & { name?: string; scope?: string }) => {
    const s = session();
    const scope = options.scope ?? defaultScope(s);
    let found: ArmResource[];
    if (options.name && GUID.test(options.name)) {
      found = (await definitions(s.client, scope)).filter(
        (d) => d.name.toLowerCase() === options.name!.toLowerCase(),
      );
    } else {
      found = await definitions(s.client, scope, options.name);
    }
    print(found.map(definitionView), options, (result) =>
      (result as Record<string, unknown>[]).map((d) => ({
        Name: d.roleName,
        Type: d.type,
        Description: d.description,
      })),
    );
  });

  const assignment = role.command('assignment').description('role assignments');
  withGlobals(
    assignment
      .command('create')
      .description('create a role assignment')
      .option('--assignee <id>', 'object id or app id of the principal')
      .option('--role <role>', 'role name or definition id')
      .option('--scope <scope>', 'scope of the assignment, e.g. a registry id')
      .option('--description <text>', 'description of the assignment'),
  ).action(create);
  withGlobals(
    assignment
      .command('list')
      .description('list role assignments')
      .option('--assignee <id>', 'object id or app id of the principal')
      .option('--role <role>', 'role name or definition id')
      .option('--scope <scope>', 'scope (default: the subscription)'),
  ).action(list);
  withGlobals(
    assignment
      .command('delete')
      .description('delete role assignments')
      .option('--ids <id...>', 'ids of the assignments')
      .option('--assignee <id>', 'object id or app id of the principal')
      .option('--role <role>', 'role name or definition id')
      .option('--scope <scope>', 'scope (default: the subscription)')
      .option('-y, --yes', 'do not prompt for confirmation'),
  ).action(remove);
}
