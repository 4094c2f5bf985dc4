/**
 * @module management/registry-resource
 * The `Microsoft.ContainerRegistry/registries` resource: its defaults, the validation of a PUT or
 * PATCH body (ACR's rules and error texts), and the JSON a GET returns. Properties are stored as
 * the ARM `properties` object itself, so the data plane reads the same names the API shows.
 */
import type { RegistryRecord } from '../metadata/index.js';
import { ArmError } from './arm-errors.js';
import { isObject } from '../core/json.js';

export const REGISTRY_TYPE = 'Microsoft.ContainerRegistry/registries';
export const SKUS = ['Basic', 'Standard', 'Premium'] as const;
export type SkuName = (typeof SKUS)[number];

/** ACR's rule for registry names (the spec's pattern and length). */
export const REGISTRY_NAME = /^[a-zA-Z0-9]{5,50}$/;

export interface IpRule {
  action: 'Allow';
  value: string;
}

export interface NetworkRuleSet {
  defaultAction: 'Allow' | 'Deny';
  ipRules: IpRule[];
}

/** The stored properties of a new registry: ACR's defaults, with tasks trusted (product brief). */
export function defaultRegistryProperties(sku: SkuName, now: string): Record<string, unknown> {
  return {
    adminUserEnabled: false,
    networkRuleSet: sku === 'Basic' ? null : { defaultAction: 'Allow', ipRules: [] },
    policies: {
      quarantinePolicy: { status: 'disabled' },
      trustPolicy: { type: 'Notary', status: 'disabled' },
      retentionPolicy: { days: 7, lastUpdatedTime: now, status: 'disabled' },
      exportPolicy: { status: 'enabled' },
      azureADAuthenticationAsArmPolicy: { status: 'enabled' },
      softDeletePolicy: { retentionDays: 7, lastUpdatedTime: now, status: 'disabled' },
    },
    encryption: { status: 'disabled' },
    dataEndpointEnabled: false,
    publicNetworkAccess: 'Enabled',
    networkRuleBypassOptions: 'AzureServices',
    networkRuleBypassAllowedForTasks: true,
    zoneRedundancy: 'Disabled',
    anonymousPullEnabled: false,
    roleAssignmentMode: 'LegacyRegistryPermissions',
    metadataSearch: 'Disabled',
  };
}

function invalid(message: string, code = 'InvalidRequestContent'): ArmError {
  return new ArmError(400, code, message);
}

export function parseSku(value: unknown, required: boolean): SkuName | undefined {
  if (value === undefined || value === null) {
    if (required)
      throw invalid("The 'sku' property is required to create a registry.", 'InvalidSku');
    return undefined;
  }
  const name = isObject(value) ? value.name : undefined;
  if (typeof name === 'string' && name.toLowerCase() === 'classic') {
    throw invalid('Classic SKU is no longer supported. Please select a managed SKU.', 'InvalidSku');
  }
  const sku = SKUS.find((s) => typeof name === 'string' && s.toLowerCase() === name.toLowerCase());
  if (!sku)
    throw invalid(
      `The SKU '${String(name)}' is not valid. Valid SKUs are Basic, Standard and Premium.`,
      'InvalidSku',
    );
  return sku;
}

function enumValue<T extends string>(value: unknown, allowed: readonly T[], property: string): T {
  const match = allowed.find(
    (a) => typeof value === 'string' && a.toLowerCase() === value.toLowerCase(),
  );
  if (!match) {
    throw invalid(
      `The value '${String(value)}' of property '${property}' is not valid. Allowed values: ${allowed.join(', ')}.`,
    );
  }
  return match;
}

function booleanValue(value: unknown, property: string): boolean {
  if (typeof value !== 'boolean')
    throw invalid(`The property '${property}' must be true or false.`);
  return value;
}

/**
 * Validates an IP rule value: an IPv4 or IPv6 address or CIDR range (wider than ACR, which takes
 * IPv4 only). Full parsing and matching belong to the network module; this checks the shape.
 */
function ipRuleValue(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
    throw invalid(
      `Invalid IP rule value '${String(value)}'. Specify an IPv4 or IPv6 address or CIDR range.`,
      'InvalidIpRule',
    );
  }
  const [address, prefix, extra] = value.split('/');
  const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(
    address ?? '',
  );
  const ipv6 = !ipv4 && /^[0-9a-fA-F:.]+$/.test(address ?? '') && (address ?? '').includes(':');
  const maxPrefix = ipv4 ? 32 : 128;
  const prefixOk =
    prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
  if ((!ipv4 && !ipv6) || !prefixOk || extra !== undefined) {
    throw invalid(
      `Invalid IP rule value '${value}'. Specify an IPv4 or IPv6 address or CIDR range.`,
      'InvalidIpRule',
    );
  }
  return value;
}

export const MAX_IP_RULES = 10_000;

function parseNetworkRuleSet(value: unknown): NetworkRuleSet | null {
  if (value === null) return null;
  if (!isObject(value)) throw invalid("The property 'networkRuleSet' must be an object.");
  // Required by ARM: a missing default must never silently turn Deny into Allow.
  if (value.defaultAction === undefined) {
    throw invalid("The 'networkRuleSet.defaultAction' property is required (Allow or Deny).");
  }
  const defaultAction = enumValue(
    value.defaultAction,
    ['Allow', 'Deny'] as const,
    'networkRuleSet.defaultAction',
  );
  const rules = value.ipRules ?? [];
  if (!Array.isArray(rules))
    throw invalid("The property 'networkRuleSet.ipRules' must be an array.");
  if (rules.length > MAX_IP_RULES) {
    throw invalid(
      `The requested feature IP rule exceeds allowed quota ${MAX_IP_RULES} for the SKU Premium.`,
      'BadRequestError',
    );
  }
  const ipRules = rules.map((rule) => {
    if (!isObject(rule)) throw invalid('Each IP rule must be an object with action and value.');
    enumValue(rule.action ?? 'Allow', ['Allow'] as const, 'ipRules.action');
    // The CLI prints `ipAddressOrRange` (its SDK name); accept it on input too.
    return { action: 'Allow' as const, value: ipRuleValue(rule.value ?? rule.ipAddressOrRange) };
  });
  return { defaultAction, ipRules };
}

/**
 * Merges a PUT/PATCH `properties` object into the current properties, validating every value.
 * Unknown properties and read-only ones are ignored, as ARM does.
 */
export function applyRegistryProperties(
  current: Record<string, unknown>,
  input: unknown,
  now: string,
): Record<string, unknown> {
  if (input === undefined || input === null) return current;
  if (!isObject(input)) throw invalid("The property 'properties' must be an object.");
  const next: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    switch (key) {
      case 'adminUserEnabled':
      case 'dataEndpointEnabled':
      case 'anonymousPullEnabled':
      case 'networkRuleBypassAllowedForTasks':
        next[key] = booleanValue(value, key);
        break;
      case 'publicNetworkAccess':
        next[key] = enumValue(value, ['Enabled', 'Disabled'] as const, key);
        break;
      case 'networkRuleBypassOptions':
        next[key] = enumValue(value, ['AzureServices', 'None'] as const, key);
        break;
      case 'zoneRedundancy':
        next[key] = enumValue(value, ['Enabled', 'Disabled'] as const, key);
        break;
      case 'roleAssignmentMode':
        next[key] = enumValue(
          value,
          ['LegacyRegistryPermissions', 'AbacRepositoryPermissions'] as const,
          key,
        );
        break;
      case 'metadataSearch':
        next[key] = enumValue(value, ['Enabled', 'Disabled'] as const, key);
        break;
      case 'networkRuleSet':
        next[key] = parseNetworkRuleSet(value);
        break;
      case 'policies':
        next[key] = mergePolicies(current.policies, value, now);
        break;
      case 'encryption':
        if (!isObject(value)) throw invalid("The property 'encryption' must be an object.");
        next[key] = {
          status: enumValue(
            value.status ?? 'disabled',
            ['enabled', 'disabled'] as const,
            'encryption.status',
          ),
        };
        break;
      default:
        break; // read-only or unknown: ignored
    }
  }
  return next;
}

function mergePolicies(current: unknown, input: unknown, now: string): Record<string, unknown> {
  if (!isObject(input)) throw invalid("The property 'policies' must be an object.");
  const merged: Record<string, unknown> = { ...(isObject(current) ? current : {}) };
  const status = (value: unknown, name: string) =>
    enumValue(value, ['enabled', 'disabled'] as const, `policies.${name}.status`);
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined || value === null) continue;
    if (!isObject(value)) throw invalid(`The policy '${name}' must be an object.`);
    const existing = isObject(merged[name]) ? (merged[name] as Record<string, unknown>) : {};
    switch (name) {
      case 'quarantinePolicy':
      case 'exportPolicy':
      case 'azureADAuthenticationAsArmPolicy':
        merged[name] = { ...existing, status: status(value.status ?? existing.status, name) };
        break;
      case 'trustPolicy':
        merged[name] = { type: 'Notary', status: status(value.status ?? existing.status, name) };
        break;
      case 'retentionPolicy': {
        const days = value.days ?? existing.days ?? 7;
        if (typeof days !== 'number' || !Number.isInteger(days) || days < 0 || days > 365) {
          throw invalid('The retention policy days must be an integer from 0 to 365.');
        }
        merged[name] = {
          days,
          lastUpdatedTime: now,
          status: status(value.status ?? existing.status, name),
        };
        break;
      }
      case 'softDeletePolicy': {
        const retentionDays = value.retentionDays ?? existing.retentionDays ?? 7;
        if (
          typeof retentionDays !== 'number' ||
          !Number.isInteger(retentionDays) ||
          retentionDays < 1 ||
          retentionDays > 90
        ) {
          throw invalid('The soft delete retention days must be an integer from 1 to 90.');
        }
        merged[name] = {
          retentionDays,
          lastUpdatedTime: now,
          status: status(value.status ?? existing.status, name),
        };
        break;
      }
      default:
        break;
    }
  }
  const enabled = (name: string) =>
    isObject(merged[name]) && (merged[name] as Record<string, unknown>).status === 'enabled';
  if (enabled('retentionPolicy') && enabled('softDeletePolicy')) {
    // ACR refuses the pair: retention would delete what soft delete promises to keep.
    throw invalid('The retention policy and the soft delete policy cannot both be enabled.');
  }
  return merged;
}

/**
 * ACR's SKU rules for network features: IP rules, a Deny default and disabled public access are
 * Premium only (ACR's error codes and texts).
 */
export function checkSkuRules(properties: Record<string, unknown>, sku: SkuName): void {
  if (sku === 'Basic' && properties.anonymousPullEnabled === true) {
    throw new ArmError(
      400,
      'AnonymousPullNotSupported',
      'Anonymous pull is not supported for the SKU Basic. It is available in the Standard and Premium service tiers.',
    );
  }
  if (sku === 'Premium') return;
  if (properties.publicNetworkAccess === 'Disabled') {
    throw new ArmError(
      400,
      'DisablingPublicNetworkAccessNotSupported',
      `Disabling public network access is not supported for the SKU ${sku}. For more information, please visit https://aka.ms/acr/private-link.`,
    );
  }
  const rules = properties.networkRuleSet as NetworkRuleSet | null | undefined;
  if (rules && (rules.defaultAction === 'Deny' || rules.ipRules.length > 0)) {
    throw new ArmError(
      400,
      'NetworkRuleNotSupported',
      `The requested feature network rules is not supported for the SKU ${sku}.`,
    );
  }
}

/** The registry as ARM returns it. */
export function registryToArm(registry: RegistryRecord): Record<string, unknown> {
  const arm = registry.arm;
  const sku = arm?.sku.name ?? 'Premium';
  const name = arm?.resourceId.split('/').at(-1) ?? registry.name;
  return {
    id: arm?.resourceId,
    name,
    type: REGISTRY_TYPE,
    location: arm?.location,
    tags: arm?.tags ?? {},
    sku: { name: sku, tier: sku },
    ...(arm?.identity ? { identity: arm.identity } : {}),
    ...(arm?.systemData ? { systemData: arm.systemData } : {}),
    properties: {
      loginServer: registry.loginServer,
      creationDate: registry.createdAt,
      provisioningState: 'Succeeded',
      status: null,
      dataEndpointHostNames: [],
      privateEndpointConnections: [],
      ...registry.properties,
    },
  };
}
