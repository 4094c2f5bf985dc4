/**
 * @module bench/lib/network
 * The restricted registry of the "Restricted" workload: the management API call that sets a
 * registry's network rules before a run, the rule set itself, and a check that the rules are in
 * force on the data endpoint.
 *
 * - The management client is test/support/arm-client.ts's logic: HTTPS to the management listener
 *   named in `<data>/endpoints.json`, trusting the server's own CA (`<data>/tls/ca.crt`), with a
 *   bearer token from the identity service's client-credentials grant for the bootstrap owner
 *   (`<data>/bootstrap.json`).
 * - The restricted rule set is `defaultAction: Deny` with 10,000 rules: 9,999 pseudo-random IPv4
 *   and IPv6 ranges of every prefix length (so a matcher keyed by prefix length sees its worst
 *   case), none of which holds 127.0.0.0/8, and last of all `127.0.0.1/32`, the only one that
 *   admits the bench's clients.
 * - The check connects from two loopback addresses (Linux routes all of 127.0.0.0/8 to `lo`, and
 *   a Node client may choose its source address): from 127.0.0.1 `GET /v2/` must be the usual
 *   401 challenge, from 127.0.0.2 a 403 `DENIED` when restricted (401 when open).
 */
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { RunningServer } from './servers.js';

const API = 'api-version=2023-07-01';

/** The two sides of the Restricted workload. */
export type NetworkMode = 'open' | 'restricted';

export interface IpRule {
  action: 'Allow';
  value: string;
}

export interface NetworkRuleSet {
  defaultAction: 'Allow' | 'Deny';
  ipRules: IpRule[];
}

/** The rule that admits the bench's clients (skopeo and the raw client connect from it). */
export const ADMIT_LOOPBACK = '127.0.0.1/32';

/** A small deterministic PRNG (mulberry32), so every run restricts with the same rules. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` rules, `defaultAction: Deny`: `count - 1` distinct random ranges that do not hold
 * 127.0.0.1 (IPv4 /8 to /32 and IPv6 /16 to /128, about half each), then `127.0.0.1/32`.
 */
export function restrictedRuleSet(count = 10_000, seed = 0x5eed): NetworkRuleSet {
  const random = prng(seed);
  const int = (below: number) => Math.floor(random() * below);
  const values = new Set<string>();
  while (values.size < count - 1) {
    if (random() < 0.5) {
      let first = 1 + int(223);
      if (first === 127) first = 128;
      const octets = [first, int(256), int(256), int(256)];
      const prefix = 8 + int(25);
      values.add(`${octets.join('.')}/${prefix}`);
    } else {
      // Global unicast 2000::/3 (never ::1 or ::ffff:127.0.0.1).
      const groups = Array.from({ length: 8 }, () => int(0x10000).toString(16));
      groups[0] = (0x2000 + int(0x2000)).toString(16);
      const prefix = 16 + int(113);
      values.add(`${groups.join(':')}/${prefix}`);
    }
  }
  const ipRules: IpRule[] = [...values].map((value) => ({ action: 'Allow', value }));
  ipRules.push({ action: 'Allow', value: ADMIT_LOOPBACK });
  return { defaultAction: 'Deny', ipRules };
}

export const OPEN_RULE_SET: NetworkRuleSet = { defaultAction: 'Allow', ipRules: [] };

interface Answer {
  status: number;
  text: string;
}

/** The management API of a running Breakwater, as its bootstrap owner. */
export class ManagementClient {
  private token: string | undefined;

  private constructor(
    private readonly url: string,
    private readonly ca: string,
    private readonly owner: {
      tenantId: string;
      subscriptionId: string;
      clientId: string;
      clientSecret: string;
    },
  ) {}

  static async forServer(server: RunningServer): Promise<ManagementClient> {
    const endpoints = JSON.parse(
      await readFile(join(server.dataDir, 'endpoints.json'), 'utf8'),
    ) as { management?: string };
    if (!endpoints.management) throw new Error('endpoints.json names no management listener');
    const owner = JSON.parse(
      await readFile(join(server.dataDir, 'bootstrap.json'), 'utf8'),
    ) as ManagementClient['owner'];
    const ca = await readFile(join(server.dataDir, 'tls', 'ca.crt'), 'utf8');
    return new ManagementClient(endpoints.management, ca, owner);
  }

  private send(
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(new URL(path, this.url), { method, ca: this.ca, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  private async accessToken(): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.owner.clientId,
      client_secret: this.owner.clientSecret,
      scope: 'https://management.local/.default',
    });
    const answer = await this.send(
      'POST',
      `/${this.owner.tenantId}/oauth2/v2.0/token`,
      form.toString(),
      { 'content-type': 'application/x-www-form-urlencoded' },
    );
    if (answer.status !== 200) throw new Error(`management token: ${answer.status} ${answer.text}`);
    return (JSON.parse(answer.text) as { access_token: string }).access_token;
  }

  registryPath(name = 'myregistry'): string {
    return `/subscriptions/${this.owner.subscriptionId}/resourceGroups/breakwater/providers/Microsoft.ContainerRegistry/registries/${name}?${API}`;
  }

  /** PATCHes the default registry's properties; returns the registry as ARM answers it. */
  async patchRegistry(properties: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.token ??= await this.accessToken();
    const answer = await this.send('PATCH', this.registryPath(), JSON.stringify({ properties }), {
      authorization: `Bearer ${this.token}`,
      'content-type': 'application/json',
    });
    if (answer.status !== 200) {
      throw new Error(`PATCH registry: ${answer.status} ${answer.text.slice(0, 500)}`);
    }
    return JSON.parse(answer.text) as Record<string, unknown>;
  }
}

/** `GET /v2/` from `localAddress`; the status, or the error code (e.g. EADDRNOTAVAIL). */
function probeFrom(server: RunningServer, localAddress: string): Promise<Answer | string> {
  return new Promise((resolve) => {
    const req = httpRequest(`${server.url}/v2/`, { localAddress }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
    req.end();
  });
}

/**
 * Sets `ruleSet` on the server's default registry through the management API and checks that
 * the data endpoint enforces it. Returns a note when the outside check could not run (no
 * 127.0.0.2 on this machine); throws when the rules are not what the data endpoint does.
 */
export async function applyNetworkRules(
  server: RunningServer,
  ruleSet: NetworkRuleSet,
): Promise<string | undefined> {
  const client = await ManagementClient.forServer(server);
  const registry = await client.patchRegistry({
    publicNetworkAccess: 'Enabled',
    networkRuleSet: ruleSet,
  });
  const stored = (registry.properties as { networkRuleSet?: NetworkRuleSet }).networkRuleSet;
  if (stored?.defaultAction !== ruleSet.defaultAction) {
    throw new Error(`networkRuleSet not stored: ${JSON.stringify(stored).slice(0, 200)}`);
  }
  if (stored.ipRules.length !== ruleSet.ipRules.length) {
    throw new Error(`stored ${stored.ipRules.length} of ${ruleSet.ipRules.length} IP rules`);
  }

  const inside = await probeFrom(server, '127.0.0.1');
  if (typeof inside === 'string' || inside.status !== 401) {
    throw new Error(
      `GET /v2/ from 127.0.0.1: ${JSON.stringify(inside)} (expected a 401 challenge)`,
    );
  }
  const outside = await probeFrom(server, '127.0.0.2');
  if (typeof outside === 'string') {
    return `the outside check (a client at 127.0.0.2) could not run: ${outside}`;
  }
  const expected = ruleSet.defaultAction === 'Deny' ? 403 : 401;
  if (outside.status !== expected || (expected === 403 && !outside.text.includes('DENIED'))) {
    throw new Error(
      `GET /v2/ from 127.0.0.2: ${outside.status} ${outside.text.slice(0, 200)} (expected ${expected})`,
    );
  }
  return undefined;
}
