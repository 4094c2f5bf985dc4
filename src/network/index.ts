export { ClientAddressResolver, type ClientAddress } from './client-address.js';
export { IpRuleSet, parseAddress, parseRule, type IpRule, type ParsedAddress } from './ip-rules.js';
export {
  CompiledNetworkRules,
  FIREWALL_HELP,
  NetworkRuleCache,
  type NetworkSettings,
  type NetworkVerdict,
} from './network-rules.js';
export { evaluatePrivateDoor, PUBLIC_DOOR, type ConnectionState, type Door } from './door.js';
