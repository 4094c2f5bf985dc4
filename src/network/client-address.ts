/**
 * @module network/client-address
 * The address a request comes from: the socket peer, with IPv4-mapped IPv6 folded to IPv4.
 * `X-Forwarded-For` and `Forwarded` are believed only when the peer itself is one of the
 * configured trusted proxies; then the client is the right-most address in the chain that is
 * not a trusted proxy. Anyone else can write those headers, so from anyone else they are
 * ignored.
 */
import { IpRuleSet, parseAddress } from './ip-rules.js';

export interface ClientAddress {
  /** The address the access decision judges. */
  address: string;
  /** The socket peer. */
  peer: string;
  /** The forwarded chain, when it came from a trusted proxy. */
  forwardedFor?: string[];
}

function forwardedChain(headers: Record<string, string | string[] | undefined>): string[] {
  const chain: string[] = [];
  const forwarded = headers.forwarded;
  if (typeof forwarded === 'string') {
    for (const element of forwarded.split(',')) {
      const match = /(?:^|;)\s*for=("?)\[?([^\]";,]+)\]?(?::\d+)?\1/i.exec(element);
      if (match) chain.push(match[2]!);
    }
  }
  const xff = headers['x-forwarded-for'];
  const values = Array.isArray(xff) ? xff.join(',') : xff;
  if (values)
    chain.push(
      ...values
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean),
    );
  return chain;
}

export class ClientAddressResolver {
  private readonly proxies: IpRuleSet;

  constructor(trustedProxies: string[]) {
    this.proxies = new IpRuleSet(trustedProxies);
  }

  resolve(peer: string, headers: Record<string, string | string[] | undefined>): ClientAddress {
    const parsedPeer = parseAddress(peer);
    const peerText = parsedPeer?.text ?? peer;
    if (!parsedPeer || this.proxies.size === 0 || !this.proxies.match(parsedPeer)) {
      return { address: peerText, peer: peerText };
    }
    const chain = forwardedChain(headers);
    // Walk from the nearest hop outwards; the first address that is not a trusted proxy is the client.
    for (let i = chain.length - 1; i >= 0; i -= 1) {
      const hop = parseAddress(chain[i]!);
      // Garbage where an address should be: judge the request by it, so it matches no rule
      // (fail closed) rather than by the proxy's own, perhaps allowed, address.
      if (!hop) return { address: chain[i]!.slice(0, 64), peer: peerText, forwardedFor: chain };
      if (!this.proxies.match(hop)) {
        return { address: hop.text, peer: peerText, forwardedFor: chain };
      }
    }
    // Only proxies in the chain: the origin is its first entry (or the peer, with no header).
    const origin = chain[0] ? parseAddress(chain[0])?.text : undefined;
    return {
      address: origin ?? peerText,
      peer: peerText,
      ...(chain.length ? { forwardedFor: chain } : {}),
    };
  }
}
