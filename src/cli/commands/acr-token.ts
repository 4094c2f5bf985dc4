/**
 * @module cli/commands/acr-token
 * `acr scope-map create|update|show|list|delete` and `acr token create|show|list|update|delete`
 * and `acr token credential generate`, against the registry's ARM `scopeMaps` and `tokens`, with
 * az's arguments and output shapes (properties flattened, `resourceGroup` added).
 */
import { Option, type Command } from 'commander';
import { CliError } from '../errors.js';
import { REGISTRY_API_VERSION } from '../management-client.js';
import { print, type GlobalOptions } from '../output.js';
import {
  registryId,
  registryName,
  resourceGroupOf,
  session,
  withGlobals,
  type ArmResource,
} from './common.js';

interface ChildOptions extends GlobalOptions {
  name?: string;
  registry?: string;
  resourceGroup?: string;
  yes?: boolean;
}

const NO_TTY = 'Unable to prompt for confirmation as no tty available. Use --yes.';

/** az's view of a registry child resource: properties merged to the top, `resourceGroup`. */
function flattenChild(resource: ArmResource): Record<string, unknown> {
  const { properties, ...rest } = resource;
  // The SDK model names a property that collides with the resource's `type` typePropertiesType.
  const { type: propertiesType, ...others } = properties ?? {};
  return {
    ...rest,
    ...others,
    ...(propertiesType !== undefined ? { typePropertiesType: propertiesType } : {}),
    resourceGroup: resourceGroupOf(resource.id) ?? null,
    systemData: resource.systemData ?? null,
  };
}

/**
 * The `REPO ACTION...` groups of a repeatable variadic option, read from the command line:
 * commander flattens repeated variadic values, so the grouping is recovered from argv.
 */
export function repositoryGroups(argv: string[], flag: string): string[][] {
  const groups: string[][] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== flag) continue;
    const group: string[] = [];
    for (let j = i + 1; j < argv.length && !argv[j]!.startsWith('-'); j++) group.push(argv[j]!);
    groups.push(group);
  }
  return groups;
}

/** `repositories/<repo>/<action>` strings for the groups, az's usage error when one is empty. */
function actionsOf(groups: string[][], flag: string): string[] {
  const actions: string[] = [];
  for (const [repository, ...repoActions] of groups) {
    if (!repository || repoActions.length === 0) {
      throw new CliError(`usage error: ${flag} REPOSITORY ACTION [ACTION ...]`);
    }
    for (const action of repoActions) actions.push(`repositories/${repository}/${action}`);
  }
  return actions;
}

async function childBase(
  options: ChildOptions,
): Promise<{ base: string; s: ReturnType<typeof session> }> {
  const s = session();
  const id = await registryId(s, registryName(options.registry), options.resourceGroup);
  return { base: id, s };
}

function requireName(options: ChildOptions): string {
  if (!options.name) throw new CliError('the following arguments are required: --name/-n');
  return options.name;
}

// ---- scope maps ----

interface ScopeMapOptions extends ChildOptions {
  description?: string;
}

async function scopeMapCreate(options: ScopeMapOptions): Promise<void> {
  const name = requireName(options);
  const actions = actionsOf(repositoryGroups(process.argv, '--repository'), '--repository');
  if (actions.length === 0) {
    throw new CliError('the following arguments are required: --repository');
  }
  const { base, s } = await childBase(options);
  const created = await s.client.arm<ArmResource>(
    'PUT',
    `${base}/scopeMaps/${name}`,
    REGISTRY_API_VERSION,
    {
      properties: { actions, ...(options.description ? { description: options.description } : {}) },
    },
  );
  print(flattenChild(created), options);
}

async function scopeMapUpdate(options: ScopeMapOptions): Promise<void> {
  const name = requireName(options);
  const add = actionsOf(repositoryGroups(process.argv, '--add-repository'), '--add-repository');
  const remove = actionsOf(
    repositoryGroups(process.argv, '--remove-repository'),
    '--remove-repository',
  ).map((a) => a.toLowerCase());
  if (add.length === 0 && remove.length === 0 && options.description === undefined) {
    throw new CliError(
      'At least one of the following arguments is required: --add-repository, --remove-repository, --description',
    );
  }
  const { base, s } = await childBase(options);
  const path = `${base}/scopeMaps/${name}`;
  const current = await s.client.arm<ArmResource>('GET', path, REGISTRY_API_VERSION);
  const existing = (current.properties?.actions as string[] | undefined) ?? [];
  // az compares actions case-insensitively.
  const kept = existing.filter((a) => !remove.includes(a.toLowerCase()));
  for (const action of add) {
    if (!kept.some((a) => a.toLowerCase() === action.toLowerCase())) kept.push(action);
  }
  const description = options.description ?? current.properties?.description;
  const updated = await s.client.arm<ArmResource>('PUT', path, REGISTRY_API_VERSION, {
    properties: { actions: kept, ...(description !== undefined ? { description } : {}) },
  });
  print(flattenChild(updated), options);
}

// ---- tokens ----

interface TokenOptions extends ChildOptions {
  scopeMap?: string;
  status?: string;
  passwords?: boolean;
  expirationInDays?: string;
  expiration?: string;
  password1?: boolean;
  password2?: boolean;
}

function expiryOf(options: TokenOptions): string | undefined {
  if (options.expirationInDays !== undefined && options.expiration !== undefined) {
    throw new CliError('usage error: --expiration-in-days | --expiration');
  }
  if (options.expirationInDays !== undefined) {
    if (!/^\d+$/.test(options.expirationInDays) || Number(options.expirationInDays) < 1) {
      throw new CliError(
        `argument --expiration-in-days: invalid value: '${options.expirationInDays}' (a positive number of days)`,
      );
    }
    return new Date(Date.now() + Number(options.expirationInDays) * 86_400_000).toISOString();
  }
  return options.expiration;
}

interface Generated {
  username: string;
  passwords: Record<string, unknown>[];
}

async function tokenCreate(options: TokenOptions): Promise<void> {
  const name = requireName(options);
  const groups = repositoryGroups(process.argv, '--repository');
  if (Boolean(options.scopeMap) === groups.length > 0) {
    throw new CliError('usage error: --scope-map SCOPE_MAP | --repository REPOSITORY ACTION ...');
  }
  const expiry = expiryOf(options);
  const { base, s } = await childBase(options);
  let scopeMapId = `${base}/scopeMaps/${options.scopeMap}`;
  if (groups.length > 0) {
    // az creates a scope map named after the token for --repository.
    const actions = actionsOf(groups, '--repository');
    const map = await s.client.arm<ArmResource>(
      'PUT',
      `${base}/scopeMaps/${name}-scope-map`,
      REGISTRY_API_VERSION,
      { properties: { actions, description: `Token ${name} scope map` } },
    );
    scopeMapId = map.id;
  } else {
    // A clear error for a missing scope map before the token is made.
    scopeMapId = (await s.client.arm<ArmResource>('GET', scopeMapId, REGISTRY_API_VERSION)).id;
  }
  const path = `${base}/tokens/${name}`;
  let token = await s.client.arm<ArmResource>('PUT', path, REGISTRY_API_VERSION, {
    properties: { scopeMapId, status: options.status ?? 'enabled' },
  });
  let generated: Generated | undefined;
  if (options.passwords !== false) {
    generated = await s.client.arm<Generated>(
      'POST',
      `${base}/generateCredentials`,
      REGISTRY_API_VERSION,
      { tokenId: token.id, ...(expiry ? { expiry } : {}) },
    );
    token = await s.client.arm<ArmResource>('GET', path, REGISTRY_API_VERSION);
  }
  print(tokenView(token, generated), options);
}

/** The token as az prints it; freshly generated passwords carry their values. */
function tokenView(token: ArmResource, generated?: Generated): Record<string, unknown> {
  const flat = flattenChild(token);
  const credentials = (flat.credentials ?? {}) as {
    certificates?: unknown[];
    passwords?: { name: string }[];
  };
  const passwords = (credentials.passwords ?? []).map((p) => {
    const fresh = generated?.passwords.find((g) => g.name === p.name);
    return fresh ? { ...p, ...fresh } : p;
  });
  flat.credentials = {
    certificates: credentials.certificates ?? [],
    passwords,
    username: generated?.username ?? token.name,
  };
  if (!('objectId' in flat)) flat.objectId = null;
  return flat;
}

async function tokenUpdate(options: TokenOptions): Promise<void> {
  const name = requireName(options);
  if (options.scopeMap === undefined && options.status === undefined) {
    throw new CliError(
      'At least one of the following arguments is required: --scope-map, --status',
    );
  }
  const { base, s } = await childBase(options);
  const properties: Record<string, unknown> = {};
  if (options.scopeMap !== undefined) {
    properties.scopeMapId = (
      await s.client.arm<ArmResource>(
        'GET',
        `${base}/scopeMaps/${options.scopeMap}`,
        REGISTRY_API_VERSION,
      )
    ).id;
  }
  if (options.status !== undefined) properties.status = options.status;
  const path = `${base}/tokens/${name}`;
  await s.client.arm('GET', path, REGISTRY_API_VERSION);
  const updated = await s.client.arm<ArmResource>('PUT', path, REGISTRY_API_VERSION, {
    properties,
  });
  print(tokenView(updated), options);
}

async function credentialGenerate(options: TokenOptions): Promise<void> {
  const name = requireName(options);
  const expiry = expiryOf(options);
  const { base, s } = await childBase(options);
  const token = await s.client.arm<ArmResource>(
    'GET',
    `${base}/tokens/${name}`,
    REGISTRY_API_VERSION,
  );
  const only =
    options.password1 && !options.password2
      ? 'password1'
      : options.password2 && !options.password1
        ? 'password2'
        : undefined;
  const generated = await s.client.arm<Generated>(
    'POST',
    `${base}/generateCredentials`,
    REGISTRY_API_VERSION,
    { tokenId: token.id, ...(only ? { name: only } : {}), ...(expiry ? { expiry } : {}) },
  );
  print(generated, options);
}

// ---- registration ----

function childOptions(command: Command, what: string): Command {
  return command
    .option('-n, --name <name>', `the name of the ${what}`)
    .option('-r, --registry <registry>', "the registry's name (default: configure --defaults acr=)")
    .option('-g, --resource-group <group>', 'resource group (found automatically if omitted)');
}

function registerCrud(
  parent: Command,
  kind: 'scopeMaps' | 'tokens',
  what: string,
  view: (r: ArmResource) => Record<string, unknown>,
): void {
  withGlobals(childOptions(parent.command('show').description(`show a ${what}`), what)).action(
    async (options: ChildOptions) => {
      const name = requireName(options);
      const { base, s } = await childBase(options);
      print(
        view(
          await s.client.arm<ArmResource>('GET', `${base}/${kind}/${name}`, REGISTRY_API_VERSION),
        ),
        options,
      );
    },
  );
  withGlobals(
    parent
      .command('list')
      .description(`list the ${what}s of a registry`)
      .option(
        '-r, --registry <registry>',
        "the registry's name (default: configure --defaults acr=)",
      )
      .option('-g, --resource-group <group>', 'resource group (found automatically if omitted)'),
  ).action(async (options: ChildOptions) => {
    const { base, s } = await childBase(options);
    const list = await s.client.arm<{ value: ArmResource[] }>(
      'GET',
      `${base}/${kind}`,
      REGISTRY_API_VERSION,
    );
    print(list.value.map(view), options);
  });
  withGlobals(
    childOptions(parent.command('delete').description(`delete a ${what}`), what).option(
      '-y, --yes',
      'do not prompt for confirmation',
    ),
  ).action(async (options: ChildOptions) => {
    const name = requireName(options);
    if (!options.yes) throw new CliError(NO_TTY);
    const { base, s } = await childBase(options);
    // az reports a missing one rather than succeeding silently.
    await s.client.arm('GET', `${base}/${kind}/${name}`, REGISTRY_API_VERSION);
    await s.client.arm('DELETE', `${base}/${kind}/${name}`, REGISTRY_API_VERSION);
  });
}

const repositoryOption = (flag: string, description: string) =>
  new Option(`${flag} <repository-and-actions...>`, description);

export function registerAcrTokenCommands(acr: Command): void {
  const scopeMap = acr.command('scope-map').description('manage scope maps for tokens');
  withGlobals(
    childOptions(scopeMap.command('create').description('create a scope map'), 'scope map')
      .addOption(
        repositoryOption(
          '--repository',
          'REPO ACTION...: repository permissions (content/read, content/write, content/delete, metadata/read, metadata/write); repeatable',
        ),
      )
      .option('--description <text>', 'description for the scope map (at most 256 characters)'),
  ).action(scopeMapCreate);
  withGlobals(
    childOptions(scopeMap.command('update').description('update a scope map'), 'scope map')
      .addOption(repositoryOption('--add-repository', 'REPO ACTION...: permissions to add'))
      .addOption(repositoryOption('--remove-repository', 'REPO ACTION...: permissions to remove'))
      .option('--description <text>', 'description for the scope map'),
  ).action(scopeMapUpdate);
  registerCrud(scopeMap, 'scopeMaps', 'scope map', flattenChild);

  const token = acr.command('token').description('manage tokens for a registry');
  const status = new Option('--status <status>', 'the token status').choices([
    'enabled',
    'disabled',
  ]);
  withGlobals(
    childOptions(token.command('create').description('create a token'), 'token')
      .option('--scope-map <name>', 'the scope map to associate with the token')
      .addOption(
        repositoryOption(
          '--repository',
          'REPO ACTION...: creates the scope map <token>-scope-map; repeatable',
        ),
      )
      .addOption(status)
      .option('--no-passwords', 'do not generate passwords')
      .option('--expiration-in-days <days>', 'number of days the passwords remain valid')
      .option('--expiration <datetime>', 'UTC time the passwords expire'),
  ).action(tokenCreate);
  withGlobals(
    childOptions(token.command('update').description('update a token'), 'token')
      .option('--scope-map <name>', 'the scope map to associate with the token')
      .addOption(
        new Option('--status <status>', 'the token status').choices(['enabled', 'disabled']),
      ),
  ).action(tokenUpdate);
  registerCrud(token, 'tokens', 'token', (r) => tokenView(r));

  const credential = token.command('credential').description("manage a token's credentials");
  withGlobals(
    childOptions(
      credential.command('generate').description("generate or replace a token's passwords"),
      'token',
    )
      .option('--password1', 'generate password1')
      .option('--password2', 'generate password2')
      .option('--expiration-in-days <days>', 'number of days the passwords remain valid')
      .option('--expiration <datetime>', 'UTC time the passwords expire'),
  ).action(credentialGenerate);
}
