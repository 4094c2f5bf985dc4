/**
 * The adversarial access matrix (issue 12): every data-plane route, `/acr/v1/` route and token
 * endpoint x door (public; a private endpoint of the registry; one whose connection is pending;
 * another registry's) x registry state (public access, default action, trusted services) x
 * source (inside an IP rule, inside the virtual network, outside, and both forged with
 * `X-Forwarded-For` from an untrusted peer, plus a real trusted proxy) x credential (world.ts).
 *
 * Every case goes through `inject` with the remote address set; the expected outcome comes from
 * oracle.ts. A bypass is a case the rules refuse that got anything but a refusal (or content of
 * registry A served through another registry's door). The summary table goes to stdout and the
 * full case table to test-artifacts/adversarial/access-matrix.tsv.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOGIN_SERVER } from '../http/arm-helpers.js';
import { expectedOutcome, type Door, type Outcome, type Source } from './oracle.js';
import { attackRoutes, type AttackRoute } from './routes.js';
import {
  buildWorld,
  setState,
  type Credential,
  type DoorName,
  type RegistryState,
  type World,
} from './world.js';

const REPO_ROOT = join(import.meta.dirname, '..', '..');

const DOORS: Record<DoorName, Door> = {
  public: { name: 'public', registry: 'A', kind: 'public', approved: true },
  'pe-A': { name: 'pe-A', registry: 'A', kind: 'private', approved: true },
  'pe-A-pending': { name: 'pe-A-pending', registry: 'A', kind: 'private', approved: false },
  'pe-B': { name: 'pe-B', registry: 'B', kind: 'private', approved: true },
};

const SOURCES: Source[] = [
  { name: 'in ip rule', peer: '10.1.2.3' },
  { name: 'in vnet', peer: '10.50.1.20' },
  { name: 'outside', peer: '203.0.113.7' },
  { name: 'forged xff->rule', peer: '203.0.113.7', forwardedFor: '10.1.2.3' },
  { name: 'forged xff->vnet', peer: '203.0.113.7', forwardedFor: '10.50.1.20' },
  { name: 'trusted proxy->rule', peer: '192.0.2.10', forwardedFor: '10.1.2.3' },
];

/**
 * Which sources and states each door meets. The rules make private doors blind to the registry's
 * public settings, so CI tries them under the states that differ most; BREAKWATER_MATRIX=full
 * tries every source and state on every door (about 160,000 cases, a few minutes).
 */
const FULL = process.env.BREAKWATER_MATRIX === 'full';
const PRIVATE_SOURCES = ['in vnet', 'outside', 'forged xff->vnet'];
const PLAN: Record<DoorName, { sources: string[]; states: (state: RegistryState) => boolean }> = {
  public: {
    sources: ['in ip rule', 'outside', 'forged xff->rule', 'trusted proxy->rule'],
    states: () => true,
  },
  'pe-A': {
    sources: PRIVATE_SOURCES,
    states: (s) => s.tasksAllowed && (s.bypass === 'AzureServices' || s.defaultAction === 'Deny'),
  },
  'pe-A-pending': { sources: PRIVATE_SOURCES, states: (s) => isOpen(s) || isClosed(s) },
  'pe-B': { sources: PRIVATE_SOURCES, states: (s) => isOpen(s) || isClosed(s) },
};

function isOpen(s: RegistryState): boolean {
  return (
    s.publicNetworkAccess === 'Enabled' &&
    s.defaultAction === 'Allow' &&
    s.bypass !== 'None' &&
    s.tasksAllowed
  );
}

function isClosed(s: RegistryState): boolean {
  return s.publicNetworkAccess === 'Disabled' && s.defaultAction === 'Deny' && s.bypass === 'None';
}

const STATES: RegistryState[] = [];
for (const publicNetworkAccess of ['Enabled', 'Disabled'] as const) {
  for (const defaultAction of ['Allow', 'Deny'] as const) {
    for (const bypass of ['AzureServices', 'None'] as const) {
      STATES.push({ publicNetworkAccess, defaultAction, bypass, tasksAllowed: true });
    }
    // Tasks barred from the bypass matters only where the bypass could apply.
    STATES.push({
      publicNetworkAccess,
      defaultAction,
      bypass: 'AzureServices',
      tasksAllowed: false,
    });
  }
}

interface Result {
  state: RegistryState;
  door: DoorName;
  source: string;
  credential: string;
  route: string;
  expected: Outcome;
  status: number;
  code: string | undefined;
  verdict: 'ok' | 'BYPASS' | 'WRONG REFUSAL' | 'OVER-REFUSAL' | 'SERVER ERROR';
}

function describeOutcome(outcome: Outcome): string {
  return outcome.allowed ? 'allowed' : `${outcome.status} ${outcome.code}`;
}

function stateLabel(state: RegistryState): string {
  return `pna=${state.publicNetworkAccess} default=${state.defaultAction} bypass=${state.bypass} tasks=${state.tasksAllowed}`;
}

let world: World;
let routes: AttackRoute[];
const results: Result[] = [];

beforeAll(async () => {
  world = await buildWorld();
  routes = attackRoutes(world.manifest);
}, 120_000);

afterAll(async () => {
  await world?.close();
});

/** The request a client with `credential` sends for `route` from `source`. */
function requestFor(route: AttackRoute, credential: Credential, source: Source) {
  const headers: Record<string, string> = { host: LOGIN_SERVER };
  if (source.forwardedFor) headers['x-forwarded-for'] = source.forwardedFor;
  let url = route.url;
  let payload: string | Buffer | undefined = route.payload;
  if (route.contentType) headers['content-type'] = route.contentType;
  const scope = 'repository:matrix/app:pull';
  if (route.surface === 'data' || route.surface === 'token-get') {
    if (credential.header) headers.authorization = credential.header;
    if (route.surface === 'token-get') {
      url = `${route.url}?${new URLSearchParams({ service: LOGIN_SERVER, scope }).toString()}`;
    }
  } else {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    const form: Record<string, string> =
      route.surface === 'token-post'
        ? {
            service: LOGIN_SERVER,
            scope,
            ...(credential.tokenForm ?? { grant_type: 'refresh_token' }),
          }
        : {
            grant_type: 'access_token',
            service: LOGIN_SERVER,
            tenant: world.test.owner.tenantId,
            ...(credential.exchangeToken ? { access_token: credential.exchangeToken } : {}),
          };
    payload = new URLSearchParams(form).toString();
  }
  return {
    method: route.method,
    url,
    headers,
    remoteAddress: source.peer,
    ...(payload !== undefined ? { payload } : {}),
  };
}

function codeOf(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { errors?: { code: string }[] }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

function judge(
  expected: Outcome,
  status: number,
  code: string | undefined,
  route: AttackRoute,
  door: DoorName,
): Result['verdict'] {
  if (status >= 500) return 'SERVER ERROR';
  // A HEAD answer has no body: its status is all a client sees.
  const seen = route.method === 'HEAD' && !expected.allowed ? expected.code : code;
  const refused =
    (status === 401 || status === 403 || status === 400) &&
    (seen === 'UNAUTHORIZED' || seen === 'DENIED');
  if (expected.allowed) {
    // Through another registry's door, registry A's content is never served.
    if (door === 'pe-B' && route.readsTarget && status < 300) return 'BYPASS';
    return refused ? 'OVER-REFUSAL' : 'ok';
  }
  if (!refused) return 'BYPASS';
  return status === expected.status && seen === expected.code ? 'ok' : 'WRONG REFUSAL';
}

describe('adversarial access matrix', () => {
  it('refuses every case the rules refuse, with the right status and code, and allows the rest', async () => {
    for (const state of STATES) {
      await setState(world.test, state);
      const cases: Array<() => Promise<Result>> = [];
      for (const doorName of Object.keys(DOORS) as DoorName[]) {
        const plan = PLAN[doorName];
        if (!FULL && !plan.states(state)) continue;
        for (const source of SOURCES) {
          if (!FULL && !plan.sources.includes(source.name)) continue;
          for (const credential of world.credentials) {
            for (const route of routes) {
              cases.push(async () => {
                const expected = expectedOutcome({
                  surface: route.surface,
                  need: route.need,
                  door: DOORS[doorName],
                  source,
                  state,
                  credential,
                  named: 'A',
                });
                const response = await world.doors[doorName].inject(
                  requestFor(route, credential, source),
                );
                const code = codeOf(response.body);
                return {
                  state,
                  door: doorName,
                  source: source.name,
                  credential: credential.name,
                  route: `${route.method} ${route.label}`,
                  expected,
                  status: response.statusCode,
                  code,
                  verdict: judge(expected, response.statusCode, code, route, doorName),
                };
              });
            }
          }
        }
      }
      // A few at a time: enough to overlap the async crypto, few enough to stay in order.
      for (let i = 0; i < cases.length; i += 32) {
        results.push(...(await Promise.all(cases.slice(i, i + 32).map((run) => run()))));
      }
    }
    report(results);
    const failures = results.filter((r) => r.verdict !== 'ok');
    expect(
      failures
        .slice(0, 20)
        .map(
          (r) =>
            `${r.verdict}: ${stateLabel(r.state)} door=${r.door} source=${r.source} credential=${r.credential} ${r.route}: expected ${describeOutcome(r.expected)}, got ${r.status} ${r.code ?? ''}`,
        ),
    ).toEqual([]);
    expect(results.filter((r) => r.verdict === 'BYPASS')).toHaveLength(0);
  }, 300_000);
});

/** Prints the summary table (credential x door) and writes every case to a TSV file. */
function report(all: Result[]): void {
  const rows = new Map<
    string,
    { cases: number; allowed: number; refused: Map<string, number>; bad: number }
  >();
  for (const r of all) {
    const key = `${r.credential.padEnd(30)} ${r.door.padEnd(13)}`;
    const row = rows.get(key) ?? { cases: 0, allowed: 0, refused: new Map(), bad: 0 };
    row.cases += 1;
    if (r.expected.allowed) row.allowed += 1;
    else {
      const label = describeOutcome(r.expected);
      row.refused.set(label, (row.refused.get(label) ?? 0) + 1);
    }
    if (r.verdict !== 'ok') row.bad += 1;
    rows.set(key, row);
  }
  const lines = [
    `${'credential'.padEnd(30)} ${'door'.padEnd(13)} ${'cases'.padStart(6)} ${'allowed'.padStart(7)}  refused (status code: count)   failures`,
  ];
  for (const [key, row] of rows) {
    const refused = [...row.refused].map(([label, count]) => `${label}: ${count}`).join(', ');
    lines.push(
      `${key} ${String(row.cases).padStart(6)} ${String(row.allowed).padStart(7)}  ${refused.padEnd(30)} ${row.bad}`,
    );
  }
  const bypasses = all.filter((r) => r.verdict === 'BYPASS').length;
  lines.push(
    `cases tried: ${all.length}; allowed: ${all.filter((r) => r.expected.allowed).length}; refused: ${all.filter((r) => !r.expected.allowed).length}; bypasses found: ${bypasses}; other mismatches: ${all.filter((r) => r.verdict !== 'ok' && r.verdict !== 'BYPASS').length}`,
  );
  process.stdout.write(`\nAdversarial access matrix\n${lines.join('\n')}\n`);
  const directory = join(REPO_ROOT, 'test-artifacts', 'adversarial');
  mkdirSync(directory, { recursive: true });
  writeFileSync(
    join(directory, 'access-matrix.tsv'),
    [
      'state\tdoor\tsource\tcredential\troute\texpected\tstatus\tcode\tverdict',
      ...all.map((r) =>
        [
          stateLabel(r.state),
          r.door,
          r.source,
          r.credential,
          r.route,
          describeOutcome(r.expected),
          r.status,
          r.code ?? '',
          r.verdict,
        ].join('\t'),
      ),
    ].join('\n'),
  );
}
