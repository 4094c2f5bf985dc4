/**
 * @module network/ip-rules
 * A registry's IP rules (IPv4 and IPv6 addresses and CIDR ranges), compiled once into a matcher
 * whose cost does not grow with the number of rules: one hash-set lookup per distinct prefix
 * length (at most 33 for IPv4, 129 for IPv6). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
 * are folded to IPv4 on both sides, so a rule and a client meet whatever the socket reports.
 */
import ipaddr from 'ipaddr.js';

export type AddressFamily = 4 | 6;

export interface ParsedAddress {
  family: AddressFamily;
  /** The address as an unsigned integer. */
  value: bigint;
  /** Canonical text (IPv4 dotted, IPv6 compressed). */
  text: string;
}

const BITS: Record<AddressFamily, number> = { 4: 32, 6: 128 };

function toBigInt(bytes: number[]): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function normalize(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
    ? (address as ipaddr.IPv6).toIPv4Address()
    : address;
}

/** Parses a client address; undefined when it is not an IP address at all. */
export function parseAddress(text: string): ParsedAddress | undefined {
  const bare = text
    .trim()
    .replace(/^\[|\]$/g, '')
    .replace(/%.*$/, '');
  if (!ipaddr.isValid(bare)) return undefined;
  const address = normalize(ipaddr.parse(bare));
  const family: AddressFamily = address.kind() === 'ipv4' ? 4 : 6;
  return { family, value: toBigInt(address.toByteArray()), text: address.toString() };
}

export interface IpRule {
  /** As the owner wrote it, for audit reasons. */
  value: string;
  family: AddressFamily;
  network: bigint;
  prefix: number;
}

/** Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `v6/n`; throws RangeError when invalid. */
export function parseRule(value: string): IpRule {
  const text = value.trim();
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  let prefix: number;
  try {
    if (text.includes('/')) {
      const [parsed, length] = ipaddr.parseCIDR(text);
      address = parsed;
      prefix = length;
    } else {
      address = ipaddr.parse(text);
      prefix = address.kind() === 'ipv4' ? 32 : 128;
    }
  } catch {
    throw new RangeError(`invalid IP rule '${value}'`);
  }
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    address = (address as ipaddr.IPv6).toIPv4Address();
    prefix = Math.max(prefix - 96, 0);
  }
  const family: AddressFamily = address.kind() === 'ipv4' ? 4 : 6;
  const shift = BigInt(BITS[family] - prefix);
  // Host bits are ignored, as ACR does for 10.1.2.3/16.
  const network = (toBigInt(address.toByteArray()) >> shift) << shift;
  return { value, family, network, prefix };
}

export class IpRuleSet {
  /** family -> prefix length -> network -> the first rule that wrote it. */
  private readonly byPrefix: Record<AddressFamily, Map<number, Map<bigint, IpRule>>> = {
    4: new Map(),
    6: new Map(),
  };
  readonly size: number;

  constructor(values: string[]) {
    for (const value of values) {
      const rule = parseRule(value);
      let networks = this.byPrefix[rule.family].get(rule.prefix);
      if (!networks) this.byPrefix[rule.family].set(rule.prefix, (networks = new Map()));
      if (!networks.has(rule.network)) networks.set(rule.network, rule);
    }
    this.size = values.length;
  }

  /** The rule that admits `address`, or undefined. */
  match(address: ParsedAddress): IpRule | undefined {
    const bits = BITS[address.family];
    for (const [prefix, networks] of this.byPrefix[address.family]) {
      const shift = BigInt(bits - prefix);
      const rule = networks.get((address.value >> shift) << shift);
      if (rule) return rule;
    }
    return undefined;
  }
}
