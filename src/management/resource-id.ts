/**
 * @module management/resource-id
 * ARM resource ids: building them, and reading subscription, group, type and name back out.
 */

export interface ParsedResourceId {
  subscriptionId: string;
  resourceGroup?: string;
  /** e.g. `Microsoft.ContainerRegistry/registries` (child types: `.../registries/tokens`). */
  type?: string;
  name?: string;
}

export function resourceGroupId(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;
}

export function resourceId(
  subscriptionId: string,
  resourceGroup: string,
  type: string,
  name: string,
): string {
  const [namespace, ...types] = type.split('/');
  const names = name.split('/');
  const segments = types.map((t, i) => `${t}/${names[i] ?? ''}`).join('/');
  return `${resourceGroupId(subscriptionId, resourceGroup)}/providers/${namespace}/${segments}`;
}

/** Parses `/subscriptions/{s}[/resourceGroups/{rg}[/providers/{ns}/{type}/{name}...]]`. */
export function parseResourceId(id: string): ParsedResourceId | undefined {
  const parts = id.split('/').filter(Boolean);
  if (parts[0]?.toLowerCase() !== 'subscriptions' || !parts[1]) return undefined;
  const parsed: ParsedResourceId = { subscriptionId: parts[1] };
  if (parts.length === 2) return parsed;
  if (parts[2]?.toLowerCase() !== 'resourcegroups' || !parts[3]) return undefined;
  parsed.resourceGroup = parts[3];
  if (parts.length === 4) return parsed;
  if (parts[4]?.toLowerCase() !== 'providers' || parts.length < 8 || parts.length % 2 !== 0) {
    return undefined;
  }
  const namespace = parts[5]!;
  const rest = parts.slice(6);
  const types: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < rest.length; i += 2) {
    types.push(rest[i]!);
    names.push(rest[i + 1]!);
  }
  parsed.type = `${namespace}/${types.join('/')}`;
  parsed.name = names.join('/');
  return parsed;
}
