/**
 * The oracle of the adversarial access matrix: what the rules of
 * /work/shared/guide/access-decision.md say a request must get, written from those rules alone
 * (its own CIDR matcher, its own role table in world.ts), never by calling the code under test.
 *
 *   network first (a refused source gets 403 DENIED whatever it carries, unless the trusted-
 *   service bypass applies), then identity (none/bad: 401 UNAUTHORIZED), then roles (403 DENIED
 *   on the API; 401 from the token endpoint), then an access token's own scope (401).
 */
import type { Action, Credential, RegistryKey, RegistryState } from './world.js';
import { IP_RULE, TRUSTED_PROXY, VNET } from './world.js';

export type Surface = 'data' | 'token-get' | 'token-post' | 'exchange';

export type Need =
  | { kind: 'authenticated' }
  | { kind: 'catalog' }
  | { kind: 'repository'; repository: string; action: Action; writesManifest?: boolean };

export interface Door {
  name: string;
  /** The registry this door serves (a private endpoint serves only its own). */
  registry: RegistryKey;
  kind: 'public' | 'private';
  approved: boolean;
}

export interface Source {
  name: string;
  /** The socket's peer address. */
  peer: string;
  /** An `X-Forwarded-For` header the client sends. */
  forwardedFor?: string;
}

export type Outcome = { allowed: true } | { allowed: false; status: number; code: string };

export interface CaseFacts {
  surface: Surface;
  need: Need;
  door: Door;
  source: Source;
  state: RegistryState;
  credential: Credential;
  /** The registry the client names (Host, service): always A, the target. */
  named: RegistryKey;
}

const ALLOW: Outcome = { allowed: true };
const refuse = (status: number, code: string): Outcome => ({ allowed: false, status, code });

function ipv4(text: string): number | undefined {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    return undefined;
  }
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** A plain IPv4 CIDR test: the address and the network agree on the first `bits` bits. */
export function inCidr(address: string, cidr: string): boolean {
  const [network, bits] = cidr.split('/');
  const a = ipv4(address);
  const n = ipv4(network!);
  if (a === undefined || n === undefined) return false;
  const prefix = Number(bits ?? 32);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (a & mask) === (n & mask);
}

/** The address the registry must judge: the peer, unless the peer is a trusted proxy. */
export function judgedAddress(source: Source): string {
  if (source.forwardedFor && inCidr(source.peer, TRUSTED_PROXY)) return source.forwardedFor;
  return source.peer;
}

/** What the credential amounts to on this surface at this registry. */
function presented(
  facts: CaseFacts,
  registry: RegistryKey,
): 'none' | 'invalid' | 'valid' | 'other tenant' {
  const { credential, surface } = facts;
  if (surface === 'exchange') return credential.exchange;
  const given = surface === 'token-post' ? credential.tokenForm : credential.header;
  if (!given) return 'none';
  // The token endpoints take Basic credentials or a refresh token, never a Bearer access token.
  if (surface === 'token-get' && credential.header?.startsWith('Bearer ')) return 'invalid';
  return credential.validAt.includes(registry) ? 'valid' : 'invalid';
}

function tokenCovers(credential: Credential, need: Need): boolean {
  const scope = credential.tokenScope;
  if (!scope || need.kind === 'authenticated') return true;
  if (need.kind === 'catalog') return scope.actions.includes('catalog');
  return scope.repositories.includes(need.repository) && scope.actions.includes(need.action);
}

export function expectedOutcome(facts: CaseFacts): Outcome {
  const { door, state, credential, surface, need } = facts;
  const registry = door.registry;
  const address = judgedAddress(facts.source);
  const identity = presented(facts, registry);

  // Stage 1: network.
  let networkPass: boolean;
  if (door.kind === 'private') {
    networkPass = door.approved && inCidr(address, VNET);
  } else {
    networkPass =
      state.publicNetworkAccess === 'Enabled' &&
      (state.defaultAction === 'Allow' || inCidr(address, IP_RULE));
  }
  if (!networkPass) {
    // A trusted service's managed identity bypasses only for its own tenant's registry and
    // while it holds a role there; the platform's first-party services need neither.
    const instance =
      credential.trustedService === 'task' ? state.tasksAllowed : credential.trustedService;
    const trusted =
      instance &&
      (credential.firstParty === true ||
        (!credential.foreignTenant && (credential.roles[registry] ?? []).length > 0));
    const bypass =
      door.kind === 'public' &&
      state.bypass === 'AzureServices' &&
      trusted &&
      (identity === 'valid' || identity === 'other tenant');
    if (!bypass) return refuse(403, 'DENIED');
  }

  if (surface !== 'data') {
    // A token request naming another registry's service is refused once the network passed.
    if (facts.named !== registry) return refuse(401, 'UNAUTHORIZED');
    if (identity === 'none') {
      return surface === 'token-get' ? refuse(401, 'UNAUTHORIZED') : refuse(400, 'UNAUTHORIZED');
    }
    if (identity !== 'valid') return refuse(401, 'UNAUTHORIZED');
    if (surface === 'exchange') return ALLOW;
    // The token endpoint grants what is held; nothing held is "requested access denied".
    const action = need.kind === 'repository' ? need.action : 'catalog';
    return (credential.roles[registry] ?? []).includes(action)
      ? ALLOW
      : refuse(401, 'UNAUTHORIZED');
  }

  // Stage 2: identity.
  if (identity !== 'valid') return refuse(401, 'UNAUTHORIZED');
  // Stage 3: roles, then the access token's own scope.
  if (need.kind === 'authenticated') return ALLOW;
  const action = need.kind === 'catalog' ? 'catalog' : need.action;
  if (!(credential.roles[registry] ?? []).includes(action)) return refuse(403, 'DENIED');
  // A principal that may write referrers only may not push an image manifest.
  if (credential.referrersOnly && need.kind === 'repository' && need.writesManifest) {
    return refuse(403, 'DENIED');
  }
  if (!tokenCovers(credential, need)) return refuse(401, 'UNAUTHORIZED');
  return ALLOW;
}
