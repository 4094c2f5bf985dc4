/**
 * @module tls/names
 * The subject alternative names a server certificate must carry: normalising what callers ask
 * for, and deciding whether an existing certificate already covers it.
 *
 * DNS names are compared in lower case without a trailing dot. IP addresses are compared in
 * one canonical spelling (IPv4-mapped IPv6 becomes IPv4), so "::1" and "0:0:0:0:0:0:0:1" agree.
 * A wildcard SAN covers exactly one extra leftmost label, as TLS clients match it (RFC 6125):
 * "*.azurecr.localhost" covers "myregistry.azurecr.localhost" but not "azurecr.localhost" or
 * "a.b.azurecr.localhost".
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface SubjectNames {
  dns: string[];
  ips: string[];
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Lower-cases, validates, de-duplicates and sorts the names. An IP literal given as a DNS name
 * (a listener host such as "127.0.0.1" or "[::1]") is moved to the IP list, since clients only
 * match IP literals against IP SANs. Throws a TypeError naming the first bad entry.
 */
export function normalizeNames(names: SubjectNames): SubjectNames {
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const raw of names.dns) {
    const name = stripBrackets(raw.trim()).toLowerCase().replace(/\.$/, '');
    if (isIP(name)) ips.add(canonicalIp(name));
    else dns.add(validateDnsName(name, raw));
  }
  for (const raw of names.ips) {
    const ip = stripBrackets(raw.trim());
    if (!isIP(ip)) throw new TypeError(`not an IP address: ${JSON.stringify(raw)}`);
    ips.add(canonicalIp(ip));
  }
  if (dns.size === 0 && ips.size === 0) {
    throw new TypeError('a server certificate needs at least one DNS name or IP address');
  }
  return { dns: [...dns].sort(), ips: [...ips].sort() };
}

/** True when every requested name is matched by some name in `existing`. */
export function namesCovered(existing: SubjectNames, requested: SubjectNames): boolean {
  const existingIps = new Set(existing.ips.filter((ip) => isIP(ip)).map(canonicalIp));
  const existingDns = existing.dns.map((name) => name.toLowerCase());
  return (
    requested.ips.every((ip) => existingIps.has(canonicalIp(ip))) &&
    requested.dns.every((name) => existingDns.some((pattern) => dnsMatches(pattern, name)))
  );
}

function dnsMatches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  // A requested wildcard is only covered by the same wildcard; a concrete name also by a
  // wildcard standing for its leftmost label.
  if (!pattern.startsWith('*.') || name.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot) === pattern.slice(1);
}

function validateDnsName(name: string, raw: string): string {
  const labels = name.split('.');
  const wildcard = labels[0] === '*';
  const rest = wildcard ? labels.slice(1) : labels;
  const valid = name.length <= 253 && rest.length > 0 && rest.every((label) => LABEL.test(label));
  if (!valid) {
    throw new TypeError(
      `not a DNS name: ${JSON.stringify(raw)} (ASCII letters, digits, '-' and '_' only; ` +
        `a wildcard only as a whole leftmost label "*.")`,
    );
  }
  // Node and browsers refuse a wildcard directly above a single label ("*.localhost").
  if (wildcard && rest.length < 2) {
    throw new TypeError(`wildcard ${JSON.stringify(raw)} needs at least two labels after "*."`);
  }
  return name;
}

function stripBrackets(value: string): string {
  return value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
}

function canonicalIp(ip: string): string {
  const address = ipaddr.process(ip);
  return address.kind() === 'ipv6' ? address.toNormalizedString() : address.toString();
}
