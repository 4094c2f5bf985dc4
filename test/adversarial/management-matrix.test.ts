/**
 * The adversarial matrix of the management API: every ARM route (generated from the router's
 * own table, so a new route is attacked the day it is added) x every credential of world.ts, in
 * the ARM form a client would send (a Bearer identity token), each with a forged
 * `X-Forwarded-For` (the management plane has no network rules; the header must change nothing).
 *
 * The oracle, from the rules: no or a bad token is 401 with ARM's code for why; a valid
 * principal without a management role at the scope is 403 AuthorizationFailed, except the
 * lists every caller may read (tenants, subscriptions, built-in role definitions), which must
 * then show nothing of the owner's subscription; the owner (the control) is never refused.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildArmRouter } from '../../src/management/index.js';
import { registryId } from '../http/arm-helpers.js';
import { buildWorld, REPOSITORY, type World } from './world.js';

const REPO_ROOT = join(import.meta.dirname, '..', '..');

/**
 * Answers any authenticated caller may read: the built-in role definitions (the same for
 * everyone) and whether a registry name is free (what DNS answers about the login server anyway).
 */
const OPEN = [
  'GET /providers/microsoft.authorization/roledefinitions',
  'GET /providers/microsoft.authorization/roledefinitions/:id',
  'POST /subscriptions/:subscriptionId/providers/microsoft.containerregistry/checknameavailability',
];
/**
 * Management reads of what a registry holds (the portal's repository blades), authorized by the
 * classic pull permission: AcrPush holders on the registry may read them.
 */
const PULL_READS = [
  'GET /subscriptions/:subscriptionId/resourcegroups/:resourceGroup/providers/microsoft.containerregistry/registries/:name/repositories',
  'GET /subscriptions/:subscriptionId/resourcegroups/:resourceGroup/providers/microsoft.containerregistry/registries/:name/repositories/:repository',
];
/** Principals holding a role somewhere in the subscription (AcrPush on the registry). */
const ROLE_IN_SUBSCRIPTION = [
  'web app MI (AcrPush)',
  'trusted MI (AcrPush, control)',
  'task MI (AcrPush)',
];
const ESCALATION = JSON.stringify({
  properties: {
    roleDefinitionId:
      '/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
    principalId: '3c3c3c3c-0000-4000-8000-000000000003',
  },
});

const INVALID: Record<string, string> = {
  none: 'AuthenticationFailed',
  expired: 'ExpiredAuthenticationToken',
  'alg none': 'InvalidAuthenticationToken',
  'foreign key': 'InvalidAuthenticationToken',
  'wrong audience': 'InvalidAuthenticationToken',
  'access token (control)': 'InvalidAuthenticationToken',
  "other registry's token": 'InvalidAuthenticationToken',
  'revoked secret': 'InvalidAuthenticationToken',
  'token of revoked secret': 'InvalidAuthenticationToken',
};
const OWNER = 'owner (control)';

function apiVersion(pattern: string): string {
  if (pattern.includes('/microsoft.authorization/')) return '2022-04-01';
  if (pattern.includes('/tasks/')) return '2019-06-01-preview';
  if (pattern.includes('/microsoft.containerregistry/')) return '2023-07-01';
  return '2023-05-01';
}

interface Row {
  route: string;
  credential: string;
  expected: string;
  status: number;
  code: string;
  verdict: 'ok' | 'BYPASS' | 'WRONG REFUSAL' | 'OVER-REFUSAL' | 'SERVER ERROR';
}

let world: World;

beforeAll(async () => {
  world = await buildWorld();
}, 120_000);

afterAll(async () => {
  await world?.close();
});

describe('adversarial management matrix', () => {
  it('answers every ARM route with 401/403 for everyone but a principal with a role there', async () => {
    const { test } = world;
    const subscription = test.owner.subscriptionId;
    const table = buildArmRouter(test.platform.management).table();
    const rows: Row[] = [];
    for (const route of table) {
      const key = `${route.method} ${route.pattern}`;
      // A list: its last segment names a collection. It answers 200, filtered to what one may read.
      const list = route.method === 'GET' && !route.pattern.split('/').at(-1)!.startsWith(':');
      for (const [credential, token] of Object.entries(world.armTokens)) {
        const owner = credential === OWNER;
        // The owner's writes aim at things that do not exist, so the world stays as it is.
        const destructive = route.method !== 'GET';
        const name = owner && destructive ? 'ghost' : undefined;
        const roleAssignment = route.pattern.includes('/roleassignments/');
        const path = route.pattern
          .replace(':subscriptionId', subscription)
          .replace(':resourceGroup', name ? 'ghost-rg' : 'breakwater')
          .replace(':registry', 'myregistry')
          .replace(':id', '7f951dda-4ed3-4680-a7ca-43fe172d538d')
          .replace(':repository', encodeURIComponent(REPOSITORY))
          .replace(
            ':name',
            roleAssignment
              ? '4d4d4d4d-0000-4000-8000-000000000004'
              : (name ?? nameFor(route.pattern)),
          );
        // Role assignments are named by GUID; the body is the attack: Owner for someone.
        const payload = roleAssignment ? ESCALATION : '{}';
        const url = `${route.scoped ? registryId(test) : ''}${path}?api-version=${apiVersion(route.pattern)}`;
        const response = await test.management.inject({
          method: route.method as 'GET',
          url,
          remoteAddress: '203.0.113.7',
          headers: {
            'x-forwarded-for': '127.0.0.1',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(destructive ? { 'content-type': 'application/json' } : {}),
          },
          ...(destructive ? { payload } : {}),
        });
        let code = '';
        try {
          code = (JSON.parse(response.body) as { error?: { code?: string } }).error?.code ?? '';
        } catch {
          code = '';
        }
        const status = response.statusCode;
        let expected: string;
        let verdict: Row['verdict'];
        const refused = status === 401 || status === 403;
        // A HEAD answer has no body: its status is all a client sees.
        const seen = (wanted: string) =>
          code === wanted || (route.method === 'HEAD' && code === '');
        const body = response.body.toLowerCase();
        if (status >= 500) {
          expected = '-';
          verdict = 'SERVER ERROR';
        } else if (INVALID[credential]) {
          expected = `401 ${INVALID[credential]}`;
          verdict =
            status === 401 && seen(INVALID[credential]!)
              ? 'ok'
              : refused
                ? 'WRONG REFUSAL'
                : 'BYPASS';
        } else if (owner) {
          expected = 'allowed';
          verdict = refused ? 'OVER-REFUSAL' : 'ok';
        } else if (OPEN.includes(key)) {
          expected = '200';
          verdict = status === 200 ? 'ok' : 'WRONG REFUSAL';
        } else if (PULL_READS.includes(key) && ROLE_IN_SUBSCRIPTION.includes(credential)) {
          expected = '200 (pull permission)';
          verdict = status === 200 ? 'ok' : 'OVER-REFUSAL';
        } else if (list) {
          expected = 'filtered list, or 403 AuthorizationFailed';
          // What a list may not show: the owner's resources, its subscription to a principal
          // without a role in it, its tenant to another tenant's principal.
          const leaks =
            status < 300 &&
            (body.includes('/resourcegroups/breakwater') ||
              (!ROLE_IN_SUBSCRIPTION.includes(credential) &&
                body.includes(subscription.toLowerCase())) ||
              (credential === 'MI of another tenant' &&
                body.includes(test.owner.tenantId.toLowerCase())));
          verdict = leaks
            ? 'BYPASS'
            : status === 200 || (status === 403 && seen('AuthorizationFailed'))
              ? 'ok'
              : 'WRONG REFUSAL';
        } else {
          expected = '403 AuthorizationFailed';
          verdict =
            status === 403 && seen('AuthorizationFailed')
              ? 'ok'
              : refused || status === 404
                ? 'WRONG REFUSAL'
                : 'BYPASS';
        }
        rows.push({ route: key, credential, expected, status, code, verdict });
      }
    }

    const bypasses = rows.filter((r) => r.verdict === 'BYPASS');
    const summary = new Map<string, { cases: number; outcomes: Map<string, number> }>();
    for (const row of rows) {
      const entry = summary.get(row.credential) ?? { cases: 0, outcomes: new Map() };
      entry.cases += 1;
      const label = `${row.status} ${row.code}`.trim();
      entry.outcomes.set(label, (entry.outcomes.get(label) ?? 0) + 1);
      summary.set(row.credential, entry);
    }
    const lines = [`${'credential'.padEnd(30)} ${'cases'.padStart(5)}  outcomes`];
    for (const [credential, entry] of summary) {
      const outcomes = [...entry.outcomes].map(([label, count]) => `${label}: ${count}`).join(', ');
      lines.push(`${credential.padEnd(30)} ${String(entry.cases).padStart(5)}  ${outcomes}`);
    }
    lines.push(
      `routes: ${table.length}; cases tried: ${rows.length}; bypasses found: ${bypasses.length}; other mismatches: ${rows.filter((r) => r.verdict !== 'ok' && r.verdict !== 'BYPASS').length}`,
    );
    process.stdout.write(`\nAdversarial management matrix\n${lines.join('\n')}\n`);
    const directory = join(REPO_ROOT, 'test-artifacts', 'adversarial');
    mkdirSync(directory, { recursive: true });
    writeFileSync(
      join(directory, 'management-matrix.tsv'),
      [
        'route\tcredential\texpected\tstatus\tcode\tverdict',
        ...rows.map((r) =>
          [r.route, r.credential, r.expected, r.status, r.code, r.verdict].join('\t'),
        ),
      ].join('\n'),
    );

    expect(table.length).toBeGreaterThan(60);
    expect(
      rows
        .filter((r) => r.verdict !== 'ok')
        .slice(0, 20)
        .map(
          (r) =>
            `${r.verdict}: ${r.credential} ${r.route}: expected ${r.expected}, got ${r.status} ${r.code}`,
        ),
    ).toEqual([]);
    expect(bypasses).toHaveLength(0);
  }, 120_000);

  it('answers 403 (never 404) to a caller without a role, whether or not the resource exists', async () => {
    // ARM checks authorization at the scope before it looks the resource up: an unauthorized
    // caller must not learn what exists. Every path parameter names something that does not.
    const { test } = world;
    const subscription = test.owner.subscriptionId;
    const table = buildArmRouter(test.platform.management).table();
    const rows: Row[] = [];
    for (const route of table) {
      const key = `${route.method} ${route.pattern}`;
      // Only routes with something to name: the tenants' and subscriptions' own lists have none.
      if (OPEN.includes(key) || !/:(?!subscriptionId)/.test(route.pattern)) continue;
      const list = route.method === 'GET' && !route.pattern.split('/').at(-1)!.startsWith(':');
      const path = route.pattern
        .replace(':subscriptionId', subscription)
        .replace(':resourceGroup', 'ghost-rg')
        .replace(/:id\b/, '5e5e5e5e-0000-4000-8000-000000000005')
        .replace(
          /:name\b/,
          route.pattern.includes('/roleassignments/')
            ? '5e5e5e5e-0000-4000-8000-000000000006'
            : 'ghost',
        )
        .replace(/:[a-zA-Z]+/g, 'ghost');
      const scope = route.scoped ? registryId(test, 'ghostreg', 'ghost-rg') : '';
      const url = `${scope}${path}?api-version=${apiVersion(route.pattern)}`;
      for (const [credential, token] of Object.entries(world.armTokens)) {
        if (credential === OWNER) continue;
        const destructive = route.method !== 'GET';
        const response = await test.management.inject({
          method: route.method as 'GET',
          url,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(destructive ? { 'content-type': 'application/json' } : {}),
          },
          ...(destructive
            ? { payload: route.pattern.includes('/roleassignments/') ? ESCALATION : '{}' }
            : {}),
        });
        let code = '';
        try {
          code = (JSON.parse(response.body) as { error?: { code?: string } }).error?.code ?? '';
        } catch {
          code = '';
        }
        const status = response.statusCode;
        const seen = (wanted: string) =>
          code === wanted || (route.method === 'HEAD' && code === '');
        let expected: string;
        let verdict: Row['verdict'];
        if (status >= 500) {
          expected = '-';
          verdict = 'SERVER ERROR';
        } else if (INVALID[credential]) {
          expected = `401 ${INVALID[credential]}`;
          verdict = status === 401 && seen(INVALID[credential]!) ? 'ok' : 'WRONG REFUSAL';
        } else if (list) {
          // A list under a parent that does not exist: nothing to show, or 403.
          expected = 'empty list, or 403 AuthorizationFailed';
          const empty =
            status === 200 &&
            (JSON.parse(response.body) as { value?: unknown[] }).value?.length === 0;
          verdict =
            empty || (status === 403 && seen('AuthorizationFailed')) ? 'ok' : 'WRONG REFUSAL';
        } else {
          expected = '403 AuthorizationFailed';
          verdict =
            status === 403 && seen('AuthorizationFailed')
              ? 'ok'
              : status < 300
                ? 'BYPASS'
                : 'WRONG REFUSAL';
        }
        rows.push({ route: key, credential, expected, status, code, verdict });
      }
    }
    const failures = rows.filter((r) => r.verdict !== 'ok');
    process.stdout.write(
      `\nAdversarial management matrix, nonexistent resources x callers without a role\nroutes: ${new Set(rows.map((r) => r.route)).size}; cases tried: ${rows.length}; 404 answers: ${rows.filter((r) => r.status === 404).length}; mismatches: ${failures.length}\n`,
    );
    writeFileSync(
      join(REPO_ROOT, 'test-artifacts', 'adversarial', 'management-matrix-nonexistent.tsv'),
      [
        'route\tcredential\texpected\tstatus\tcode\tverdict',
        ...rows.map((r) =>
          [r.route, r.credential, r.expected, r.status, r.code, r.verdict].join('\t'),
        ),
      ].join('\n'),
    );
    expect(
      failures
        .slice(0, 30)
        .map(
          (r) =>
            `${r.verdict}: ${r.credential} ${r.route}: expected ${r.expected}, got ${r.status} ${r.code}`,
        ),
    ).toEqual([]);
  }, 120_000);
});

/** A real resource name for each resource type of the world, so refusals guard real things. */
function nameFor(pattern: string): string {
  if (pattern.endsWith('/registries/:name') || pattern.includes('/registries/:name/'))
    return 'myregistry';
  if (pattern.includes('/containergroups/')) return 'cg-push';
  if (pattern.includes('/sites/')) return 'web-push';
  if (pattern.includes('/virtualnetworks/')) return 'vnet1';
  if (pattern.includes('/privateendpoints/')) return 'pe-a';
  if (pattern.includes('/scopemaps/')) return '_repositories_pull';
  return 'anything';
}
