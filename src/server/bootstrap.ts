/**
 * @module server/bootstrap
 * What a fresh data directory gets: a tenant, a subscription, a resource group, the `myregistry`
 * registry as a real ARM resource (answering on the listener's own address, so
 * `skopeo copy ... docker://127.0.0.1:5000/hello:v1` reaches it), and an owner service principal
 * holding Owner on the subscription. The owner's credentials go to `<data>/bootstrap.json`
 * (mode 0600) and are printed once.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  defaultRegistryProperties,
  REGISTRY_TYPE,
  RESOURCE_GROUP_TYPE,
  resourceGroupId,
  resourceId,
} from '../management/index.js';
import type { RegistryRecord } from '../metadata/index.js';
import { roleByName } from '../rbac/index.js';
import type { Platform } from './platform.js';

export const DEFAULT_REGISTRY_NAME = 'myregistry';
export const DEFAULT_RESOURCE_GROUP = 'breakwater';

export interface BootstrapCredentials {
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  clientId: string;
  clientSecret: string;
  managementEndpoint: string;
  registry: string;
  loginServer: string;
}

/**
 * Host headers that clients use for a listener bound to `host:port`: the address itself, and
 * `localhost:port` / `127.0.0.1:port` for loopback or wildcard binds.
 */
export function listenerHosts(host: string, port: number): string[] {
  const bracketed = host.includes(':') ? `[${host}]` : host;
  const hosts = [`${bracketed}:${port}`];
  if (['127.0.0.1', '::1', '0.0.0.0', '::', 'localhost'].includes(host)) {
    hosts.push(`localhost:${port}`, `127.0.0.1:${port}`);
  }
  return [...new Set(hosts)];
}

/** Creates the tenant, subscription, group, owner and default registry on a fresh data directory. */
export async function bootstrapPlatform(
  platform: Platform,
  dataPlaneHosts: string[],
  logger: Logger,
): Promise<BootstrapCredentials | undefined> {
  const { controlPlane, metadata, identity, config } = platform;
  const existing = await controlPlane.listSubscriptions();
  if (existing.length > 0) {
    await ensureDefaultRegistryAliases(platform, dataPlaneHosts, logger);
    return undefined;
  }
  const tenantId = randomUUID();
  const subscriptionId = randomUUID();
  await controlPlane.createTenant({ id: tenantId, displayName: 'Breakwater' });
  await controlPlane.createSubscription({
    id: subscriptionId,
    tenantId,
    displayName: 'Breakwater',
    state: 'Enabled',
  });
  await controlPlane.putResource({
    id: resourceGroupId(subscriptionId, DEFAULT_RESOURCE_GROUP),
    type: RESOURCE_GROUP_TYPE,
    subscriptionId,
    resourceGroup: DEFAULT_RESOURCE_GROUP,
    name: DEFAULT_RESOURCE_GROUP,
    location: config.location,
    tags: {},
    sku: null,
    identity: null,
    properties: { provisioningState: 'Succeeded' },
    systemData: null,
  });
  const owner = await identity.createServicePrincipal(tenantId, 'breakwater-owner');
  await controlPlane.createRoleAssignment({
    name: randomUUID(),
    scope: `/subscriptions/${subscriptionId}`,
    roleDefinitionId: roleByName('Owner')!.id,
    principalId: owner.principal.objectId,
    principalType: 'ServicePrincipal',
    condition: null,
    conditionVersion: null,
    description: 'bootstrap owner',
    createdBy: null,
  });
  const now = new Date().toISOString();
  const registry = await metadata.createRegistry({
    name: DEFAULT_REGISTRY_NAME,
    loginServer: `${DEFAULT_REGISTRY_NAME}.${config.loginServerSuffix}`,
    aliases: dataPlaneHosts,
    // Premium, so every network feature is available on the default registry.
    properties: defaultRegistryProperties('Premium', now),
    arm: {
      resourceId: resourceId(
        subscriptionId,
        DEFAULT_RESOURCE_GROUP,
        REGISTRY_TYPE,
        DEFAULT_REGISTRY_NAME,
      ),
      subscriptionId,
      resourceGroup: DEFAULT_RESOURCE_GROUP,
      location: config.location,
      sku: { name: 'Premium', tier: 'Premium' },
      tags: {},
      identity: null,
      systemData: {
        createdBy: owner.principal.appId,
        createdByType: 'Application',
        createdAt: now,
        lastModifiedBy: owner.principal.appId,
        lastModifiedByType: 'Application',
        lastModifiedAt: now,
      },
    },
  });
  const credentials: BootstrapCredentials = {
    tenantId,
    subscriptionId,
    resourceGroup: DEFAULT_RESOURCE_GROUP,
    clientId: owner.principal.appId,
    clientSecret: owner.secret,
    managementEndpoint: platform.management.managementUrl,
    registry: registry.name,
    loginServer: registry.loginServer,
  };
  await writeFile(
    join(config.data, 'bootstrap.json'),
    `${JSON.stringify(credentials, null, 2)}\n`,
    { mode: 0o600 },
  );
  logger.info(
    { registry: registry.name, aliases: registry.aliases, tenantId, subscriptionId },
    'bootstrapped a fresh data directory',
  );
  return credentials;
}

/** On later starts the default registry keeps answering on the listener's (maybe new) address. */
async function ensureDefaultRegistryAliases(
  platform: Platform,
  hosts: string[],
  logger: Logger,
): Promise<RegistryRecord | undefined> {
  const registry = await platform.metadata.getRegistryByName(DEFAULT_REGISTRY_NAME);
  if (!registry) return undefined;
  for (const host of hosts) {
    if (!(await platform.metadata.addRegistryHost(registry.id, host))) {
      logger.warn({ host }, 'listener address belongs to another registry; not aliased');
    }
  }
  return registry;
}
