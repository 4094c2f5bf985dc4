/**
 * @module cli/commands/container
 * `container create|show|list|logs|delete`: container groups
 * (`Microsoft.ContainerInstance/containerGroups`) with az's flags: `--assign-identity` (bare:
 * system-assigned; or user-assigned identity ids), `--acr-identity` (the identity that pulls),
 * or `--registry-username/--registry-password`; az's flattened output.
 */
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { RESOURCES_API_VERSION } from '../management-client.js';
import { print, type GlobalOptions } from '../output.js';
import { flatten, session, withGlobals, type ArmResource, type Session } from './common.js';

export const CONTAINER_API_VERSION = '2023-05-01';
const TYPE = 'Microsoft.ContainerInstance/containerGroups';

interface ContainerOptions extends GlobalOptions {
  name?: string;
  resourceGroup?: string;
  location?: string;
  image?: string;
  assignIdentity?: string[] | true;
  acrIdentity?: string;
  registryLoginServer?: string;
  registryUsername?: string;
  registryPassword?: string;
  commandLine?: string;
  environmentVariables?: string[];
  secureEnvironmentVariables?: string[];
  restartPolicy?: string;
  containerName?: string;
  tail?: string;
  yes?: boolean;
}

function groupPath(s: Session, options: ContainerOptions): string {
  if (!options.name) throw new CliError('the following arguments are required: --name/-n');
  if (!options.resourceGroup) {
    throw new CliError('the following arguments are required: --resource-group/-g');
  }
  return `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${options.resourceGroup}/providers/${TYPE}/${options.name}`;
}

/**
 * Splits `--command-line` as a POSIX shell would split words (quotes and backslashes, no
 * expansion): az uses Python's shlex for this; a dozen lines here rather than a dependency.
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: '"' | "'" | undefined;
  let started = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      started = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) words.push(word);
      word = '';
      started = false;
    } else {
      word += c;
      started = true;
    }
  }
  if (quote) throw new CliError('No closing quotation in --command-line.');
  if (started) words.push(word);
  return words;
}

function variables(list: string[] | undefined, secure: boolean): Record<string, string>[] {
  return (list ?? []).map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0)
      throw new CliError(`usage error: environment variables must be KEY=VALUE, got '${pair}'`);
    return { name: pair.slice(0, at), [secure ? 'secureValue' : 'value']: pair.slice(at + 1) };
  });
}

/** The ARM `identity` of `--assign-identity`: bare or `[system]` is system-assigned. */
function identityOf(assign: string[] | true | undefined): Record<string, unknown> | undefined {
  if (assign === undefined) return undefined;
  const ids = assign === true ? ['[system]'] : assign.length === 0 ? ['[system]'] : assign;
  const system = ids.some((id) => id === '[system]');
  const users = ids.filter((id) => id !== '[system]');
  return {
    type:
      system && users.length
        ? 'SystemAssigned, UserAssigned'
        : system
          ? 'SystemAssigned'
          : 'UserAssigned',
    ...(users.length
      ? { userAssignedIdentities: Object.fromEntries(users.map((id) => [id, {}])) }
      : {}),
  };
}

/** The registry host of an image reference (`host/repo:tag`), as Docker reads it. */
function imageHost(image: string): string | undefined {
  const first = image.split('/')[0]!;
  return image.includes('/') && (first.includes('.') || first.includes(':')) ? first : undefined;
}

async function create(options: ContainerOptions): Promise<void> {
  const s = session();
  const path = groupPath(s, options);
  if (!options.image) throw new CliError('the following arguments are required: --image');
  const server = options.registryLoginServer ?? imageHost(options.image);
  const credentials: Record<string, unknown>[] = [];
  if (options.acrIdentity) {
    if (options.registryUsername || options.registryPassword) {
      throw new CliError(
        'usage error: --acr-identity cannot be used with --registry-username/--registry-password',
      );
    }
    if (!server) throw new CliError('Please specify --registry-login-server for --acr-identity.');
    credentials.push({ server, identity: options.acrIdentity });
  } else if (options.registryUsername || options.registryPassword) {
    if (!options.registryPassword)
      throw new CliError(
        'Please specify --registry-password in order to use custom image registry.',
      );
    if (!server)
      throw new CliError(
        'Please specify --registry-login-server in order to use custom image registry.',
      );
    credentials.push({
      server,
      username: options.registryUsername ?? '',
      password: options.registryPassword,
    });
  }
  const location =
    options.location ??
    (
      await s.client.arm<{ location: string }>(
        'GET',
        `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${options.resourceGroup}`,
        RESOURCES_API_VERSION,
      )
    ).location;
  const identity = identityOf(options.assignIdentity);
  const environmentVariables = [
    ...variables(options.environmentVariables, false),
    ...variables(options.secureEnvironmentVariables, true),
  ];
  const created = await s.client.arm<ArmResource>('PUT', path, CONTAINER_API_VERSION, {
    location,
    ...(identity ? { identity } : {}),
    properties: {
      osType: 'Linux',
      restartPolicy: options.restartPolicy ?? 'Always',
      containers: [
        {
          name: options.name,
          properties: {
            image: options.image,
            ...(options.commandLine ? { command: splitCommandLine(options.commandLine) } : {}),
            environmentVariables,
            resources: { requests: { cpu: 1, memoryInGB: 1.5 } },
          },
        },
      ],
      ...(credentials.length ? { imageRegistryCredentials: credentials } : {}),
    },
  });
  print(flatten(created), options);
}

export function registerContainerCommands(program: Command): void {
  const container = program.command('container').description('manage container instances');
  const named = (c: Command) =>
    c
      .option('-n, --name <name>', 'the container group name')
      .option('-g, --resource-group <group>', 'resource group');

  withGlobals(
    named(container.command('create').description('create a container group'))
      .option('--image <image>', "the container image, e.g. 'myregistry.azurecr.io/app:v1'")
      .option('-l, --location <location>', "location (default: the resource group's)")
      .option(
        '--assign-identity [identities...]',
        "managed identities: '[system]' (the default when bare) and/or user-assigned identity ids",
      )
      .option(
        '--acr-identity <identity>',
        "the identity that pulls the image: '[system]' or a user-assigned identity id",
      )
      .option(
        '--registry-login-server <server>',
        "the image registry's login server (default: the image's)",
      )
      .option('--registry-username <username>', 'username for the image registry')
      .option('--registry-password <password>', 'password for the image registry')
      .option('--command-line <line>', "the command to run instead of the image's")
      .option('-e, --environment-variables <KEY=VALUE...>', 'environment variables')
      .option(
        '--secure-environment-variables <KEY=VALUE...>',
        'secure environment variables (never shown back)',
      )
      .option('--restart-policy <policy>', 'Always, OnFailure or Never', undefined),
  ).action(create);

  withGlobals(named(container.command('show').description('show a container group'))).action(
    async (options: ContainerOptions) => {
      const s = session();
      print(
        flatten(
          await s.client.arm<ArmResource>('GET', groupPath(s, options), CONTAINER_API_VERSION),
        ),
        options,
      );
    },
  );

  withGlobals(
    container
      .command('list')
      .description('list container groups in a resource group')
      .option('-g, --resource-group <group>', 'resource group'),
  ).action(async (options: ContainerOptions) => {
    const s = session();
    if (!options.resourceGroup)
      throw new CliError('the following arguments are required: --resource-group/-g');
    const list = await s.client.arm<{ value: ArmResource[] }>(
      'GET',
      `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${options.resourceGroup}/providers/${TYPE}`,
      CONTAINER_API_VERSION,
    );
    print(list.value.map(flatten), options);
  });

  named(container.command('logs').description("print a container's logs"))
    .option('--container-name <name>', 'the container (default: the first)')
    .option('--tail <lines>', 'only the last lines')
    .action(async (options: ContainerOptions) => {
      const s = session();
      const path = groupPath(s, options);
      let name = options.containerName;
      if (!name) {
        const group = await s.client.arm<ArmResource>('GET', path, CONTAINER_API_VERSION);
        const containers = (group.properties?.containers ?? []) as { name: string }[];
        name = containers[0]?.name;
        if (!name) throw new CliError(`The container group '${options.name}' has no containers.`);
      }
      const query = options.tail ? `?tail=${encodeURIComponent(options.tail)}` : '';
      const logs = await s.client.arm<{ content?: string }>(
        'GET',
        `${path}/containers/${encodeURIComponent(name)}/logs${query}`,
        CONTAINER_API_VERSION,
      );
      process.stdout.write(logs.content ?? '');
    });

  withGlobals(
    named(container.command('delete').description('delete a container group')).option(
      '-y, --yes',
      'do not prompt for confirmation',
    ),
  ).action(async (options: ContainerOptions) => {
    const s = session();
    const path = groupPath(s, options);
    if (!options.yes)
      throw new CliError('Unable to prompt for confirmation as no tty available. Use --yes.');
    const deleted = await s.client.arm<ArmResource | undefined>(
      'DELETE',
      path,
      CONTAINER_API_VERSION,
    );
    if (deleted) print(flatten(deleted), options);
  });
}
