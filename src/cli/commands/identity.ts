/**
 * @module cli/commands/identity
 * `identity create|show|list|delete`: user-assigned managed identities
 * (`Microsoft.ManagedIdentity/userAssignedIdentities`), in az's output shape.
 */
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { RESOURCES_API_VERSION } from '../management-client.js';
import { print, type GlobalOptions } from '../output.js';
import { resourceGroupOf, session, withGlobals, type ArmResource, type Session } from './common.js';

export const IDENTITY_API_VERSION = '2023-01-31';
const TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';

interface IdentityOptions extends GlobalOptions {
  name?: string;
  resourceGroup?: string;
  location?: string;
  tags?: string[];
}

function identityView(identity: ArmResource): Record<string, unknown> {
  const p = identity.properties ?? {};
  return {
    clientId: p.clientId ?? null,
    id: identity.id,
    location: identity.location ?? null,
    name: identity.name,
    principalId: p.principalId ?? null,
    resourceGroup: resourceGroupOf(identity.id) ?? null,
    tags: identity.tags ?? {},
    tenantId: p.tenantId ?? null,
    type: identity.type ?? TYPE,
  };
}

function identityTable(result: unknown): Record<string, unknown>[] {
  const items = (Array.isArray(result) ? result : [result]) as Record<string, unknown>[];
  return items.map((i) => ({
    Name: i.name,
    ResourceGroup: i.resourceGroup,
    Location: i.location,
    ClientId: i.clientId,
    PrincipalId: i.principalId,
  }));
}

function identityPath(s: Session, options: IdentityOptions): string {
  if (!options.name) throw new CliError('the following arguments are required: --name/-n');
  if (!options.resourceGroup) {
    throw new CliError('the following arguments are required: --resource-group/-g');
  }
  return `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${options.resourceGroup}/providers/${TYPE}/${options.name}`;
}

function parseTags(tags: string[] | undefined): Record<string, string> | undefined {
  if (!tags) return undefined;
  const out: Record<string, string> = {};
  for (const tag of tags) {
    const at = tag.indexOf('=');
    if (at === 0) throw new CliError(`usage error: --tags expects key[=value], got '${tag}'`);
    if (at < 0) out[tag] = '';
    else out[tag.slice(0, at)] = tag.slice(at + 1);
  }
  return out;
}

export function registerIdentityCommands(program: Command): void {
  const identity = program.command('identity').description('manage managed identities');
  const named = (c: Command) =>
    c
      .option('-n, --name <name>', 'the identity resource name')
      .option('-g, --resource-group <group>', 'resource group');

  withGlobals(
    named(identity.command('create').description('create a user-assigned identity'))
      .option('-l, --location <location>', "location (default: the resource group's)")
      .option('--tags <key=value...>', 'space-separated tags'),
  ).action(async (options: IdentityOptions) => {
    const s = session();
    const path = identityPath(s, options);
    const location =
      options.location ??
      (
        await s.client.arm<{ location: string }>(
          'GET',
          `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${options.resourceGroup}`,
          RESOURCES_API_VERSION,
        )
      ).location;
    const tags = parseTags(options.tags);
    const created = await s.client.arm<ArmResource>('PUT', path, IDENTITY_API_VERSION, {
      location,
      ...(tags ? { tags } : {}),
    });
    print(identityView(created), options, identityTable);
  });

  withGlobals(named(identity.command('show').description('show an identity'))).action(
    async (options: IdentityOptions) => {
      const s = session();
      const found = await s.client.arm<ArmResource>(
        'GET',
        identityPath(s, options),
        IDENTITY_API_VERSION,
      );
      print(identityView(found), options, identityTable);
    },
  );

  withGlobals(
    identity
      .command('list')
      .description('list user-assigned identities')
      .option('-g, --resource-group <group>', 'resource group'),
  ).action(async (options: IdentityOptions) => {
    const s = session();
    const sub = `/subscriptions/${s.profile.subscriptionId}`;
    let identities: ArmResource[];
    if (options.resourceGroup) {
      identities = (
        await s.client.arm<{ value: ArmResource[] }>(
          'GET',
          `${sub}/resourceGroups/${options.resourceGroup}/providers/${TYPE}`,
          IDENTITY_API_VERSION,
        )
      ).value;
    } else {
      const filter = encodeURIComponent(`resourceType eq '${TYPE}'`);
      const ids = (
        await s.client.arm<{ value: ArmResource[] }>(
          'GET',
          `${sub}/resources?$filter=${filter}`,
          RESOURCES_API_VERSION,
        )
      ).value;
      identities = [];
      for (const { id } of ids) {
        identities.push(await s.client.arm<ArmResource>('GET', id, IDENTITY_API_VERSION));
      }
    }
    print(identities.map(identityView), options, identityTable);
  });

  withGlobals(named(identity.command('delete').description('delete an identity'))).action(
    async (options: IdentityOptions) => {
      const s = session();
      await s.client.arm('DELETE', identityPath(s, options), IDENTITY_API_VERSION);
    },
  );
}
