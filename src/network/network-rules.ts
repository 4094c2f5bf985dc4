/**
 * @module network/network-rules
 * Stage 1 of the access decision for a registry's public endpoint: public network access, the
 * default action and the IP rules, compiled once per settings version and evaluated as a pure
 * function. Private endpoints (their own door) are judged elsewhere; IP rules never apply there.
 */
import { IpRuleSet, parseAddress, type IpRule } from './ip-rules.js';

export interface NetworkSettings {
  publicNetworkAccess?: unknown;
  networkRuleSet?: unknown;
}

export type NetworkVerdict =
  { pass: true; reason: string } | { pass: false; reason: string; message: string };

export const FIREWALL_HELP = 'Refer https://aka.ms/acr/firewall to grant access.';

export class CompiledNetworkRules {
  private readonly publicDisabled: boolean;
  private readonly defaultAllow: boolean;
  private readonly rules: IpRuleSet;

  constructor(settings: NetworkSettings) {
    this.publicDisabled = settings.publicNetworkAccess === 'Disabled';
    const ruleSet = (settings.networkRuleSet ?? null) as {
      defaultAction?: string;
      ipRules?: { value: string }[];
    } | null;
    this.defaultAllow = !ruleSet || ruleSet.defaultAction !== 'Deny';
    // A rule that does not compile fails closed: it admits nothing (and the API refuses it first).
    const values: string[] = [];
    for (const rule of ruleSet?.ipRules ?? []) {
      try {
        new IpRuleSet([rule.value]);
        values.push(rule.value);
      } catch {
        // skipped
      }
    }
    this.rules = new IpRuleSet(values);
  }

  /** Whether the public endpoint lets `source` in, and why. */
  evaluate(source: string): NetworkVerdict {
    if (this.publicDisabled) {
      return {
        pass: false,
        reason: 'network: public network access disabled',
        message: `client with IP '${source}' is not allowed access: public network access to this registry is disabled. Use a private endpoint or a trusted service. ${FIREWALL_HELP}`,
      };
    }
    if (this.defaultAllow) return { pass: true, reason: 'network: default action Allow' };
    const address = parseAddress(source);
    const rule: IpRule | undefined = address ? this.rules.match(address) : undefined;
    if (rule) return { pass: true, reason: `network: ip rule ${rule.value}` };
    return {
      pass: false,
      reason: `network: no ip rule matches ${source} (default action Deny)`,
      message: `client with IP '${source}' is not allowed access. ${FIREWALL_HELP}`,
    };
  }
}

/** Compiled rules per registry, recompiled whenever the registry's settings change. */
export class NetworkRuleCache {
  private readonly cache = new Map<string, { version: string; rules: CompiledNetworkRules }>();

  /** `version` must change whenever settings do (the registry's `updatedAt`). */
  get(registryId: string, version: string, settings: NetworkSettings): CompiledNetworkRules {
    const cached = this.cache.get(registryId);
    if (cached && cached.version === version) return cached.rules;
    const rules = new CompiledNetworkRules(settings);
    this.cache.set(registryId, { version, rules });
    return rules;
  }
}
