/**
 * @module test/support/identity-host
 * A container group that only holds a system-assigned identity, written straight into the
 * platform's stores: its ARM PUT deploys images (test/services/container-instances.test.ts), while
 * the access-decision and portal tests only need a trusted service's identity to exist.
 */
import { applyIdentity, parseResourceId } from '../../src/management/index.js';
import type { Platform } from '../../src/server/platform.js';

/** Creates (or replaces) the group `id` with a system-assigned identity; returns its principal. */
export async function putIdentityOnlyGroup(platform: Platform, id: string): Promise<string> {
  const parsed = parseResourceId(id);
  if (!parsed?.resourceGroup || !parsed.name) throw new Error(`not a resource id: ${id}`);
  const identity = await applyIdentity(platform.management, id, null, { type: 'SystemAssigned' });
  await platform.controlPlane.putResource({
    id,
    type: 'Microsoft.ContainerInstance/containerGroups',
    subscriptionId: parsed.subscriptionId,
    resourceGroup: parsed.resourceGroup,
    name: parsed.name,
    location: 'local',
    tags: {},
    sku: null,
    identity,
    properties: {},
    systemData: null,
  });
  return String(identity!.principalId);
}
