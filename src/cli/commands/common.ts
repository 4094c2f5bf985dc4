/**
 * @module cli/commands/common
 * What every az-shaped command shares: the global options (`-o`, `--query`,
 * `--only-show-errors`), the registry name from `--name` or `configure --defaults acr=`, and
 * finding a registry's resource id in the subscription as az does when `-g` is omitted.
 */
import { Option, type Command } from 'commander';
import { CliError } from '../errors.js';
import { ManagementClient, REGISTRY_API_VERSION } from '../management-client.js';
import { loadDefaults, requireProfile, type Profile } from '../profile.js';

export function withGlobals(command: Command): Command {
  return command
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['json', 'table', 'tsv']),
    )
    .option('--query <jmespath>', 'JMESPath query string')
    .option('--only-show-errors', 'only show errors, suppressing warnings');
}

export function registryName(name: string | undefined): string {
  const resolved = name ?? loadDefaults().acr;
  if (!resolved) {
    throw new CliError(
      "the following arguments are required: --name/-n (or set a default with 'breakwater configure --defaults acr=NAME')",
    );
  }
  return resolved;
}

export interface Session {
  profile: Profile;
  client: ManagementClient;
}

export function session(): Session {
  const profile = requireProfile();
  return { profile, client: ManagementClient.fromProfile(profile) };
}

export interface ArmResource {
  id: string;
  name: string;
  type?: string;
  properties?: Record<string, unknown>;
  [key: string]: unknown;
}

export function resourceGroupOf(id: string): string | undefined {
  return /\/resourceGroups\/([^/]+)/i.exec(id)?.[1];
}

/** The registry's ARM id: under `-g` when given, else found in the subscription (as az does). */
export async function registryId(
  { profile, client }: Session,
  name: string,
  resourceGroup?: string,
): Promise<string> {
  const sub = `/subscriptions/${profile.subscriptionId}`;
  if (resourceGroup) {
    return `${sub}/resourceGroups/${resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${name}`;
  }
  const list = await client.arm<{ value: ArmResource[] }>(
    'GET',
    `${sub}/providers/Microsoft.ContainerRegistry/registries`,
    REGISTRY_API_VERSION,
  );
  const found = list.value.find((r) => r.name.toLowerCase() === name.toLowerCase());
  if (!found) {
    throw new CliError(
      `The resource with name '${name}' and type 'Microsoft.ContainerRegistry/registries' could not be found in subscription '${profile.subscriptionName ?? profile.subscriptionId} (${profile.subscriptionId})'.`,
    );
  }
  return found.id;
}

export async function getRegistry(
  s: Session,
  name: string,
  resourceGroup?: string,
): Promise<ArmResource> {
  const id = await registryId(s, name, resourceGroup);
  return s.client.arm<ArmResource>('GET', id, REGISTRY_API_VERSION);
}

/** az's view of an ARM resource: `properties` merged to the top, `resourceGroup` added. */
export function flatten(resource: ArmResource): Record<string, unknown> {
  const { properties, ...rest } = resource;
  const flat: Record<string, unknown> = { ...rest, ...(properties ?? {}) };
  flat.resourceGroup = resourceGroupOf(resource.id) ?? null;
  // The SDK's model spells this policy azureAdAuthenticationAsArmPolicy.
  const policies = flat.policies as Record<string, unknown> | undefined;
  if (policies && 'azureADAuthenticationAsArmPolicy' in policies) {
    const { azureADAuthenticationAsArmPolicy, ...others } = policies;
    flat.policies = {
      ...others,
      azureAdAuthenticationAsArmPolicy: azureADAuthenticationAsArmPolicy,
    };
  }
  for (const key of ['identity', 'status', 'tags', 'systemData']) {
    if (!(key in flat)) flat[key] = key === 'tags' ? {} : null;
  }
  return flat;
}

export function parseBool(flag: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(v)) return true;
  if (['false', 'no', '0', 'off'].includes(v)) return false;
  throw new CliError(`argument ${flag}: invalid value: '${value}' (choose from 'false', 'true')`);
}
