/**
 * Interop: the network stage of the access decision, decided by real source addresses. skopeo
 * cannot choose where it connects from, so it runs inside network namespaces (test/interop/
 * netns.ts): namespace "inside" at 10.99.<n>.2 and namespace "moved" at 10.99.<n+1>.2, each
 * joined to the host by a veth pair. The registry listens on the host end of inside's link
 * (10.99.<n>.1), so every client's socket peer is its own address, and the host itself reaches
 * the registry from 10.99.<n>.1. Each row sets the registry's network properties through ARM,
 * runs a real client, and asserts its exit code, what skopeo printed, the 403 body, and the audit
 * line the server logged for the decision (source, result, status, reason). Settings are
 * restored after every row.
 *
 * skopeo 1.9.3 (Debian 12) refuses on its first request, the `GET /v2/` ping, and prints only
 * `invalid status code from registry 403 (Forbidden)`, not the body; newer containers/image
 * versions print the body's message. So the refusal's text is read from the 403 body by a raw
 * HTTP request from the same namespace (Node's http client run with `ip netns exec`; curl is not
 * among the packages CI installs).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ArmClient } from '../support/arm-client.js';
import {
  ClientSandbox,
  commandAvailable,
  describeRun,
  expectSuccess,
  run,
  type RunResult,
} from '../support/clients.js';
import {
  BUSYBOX_PATH,
  buildImageLayout,
  OCI_MANIFEST,
  sampleImageSpec,
} from '../support/oci-layout.js';
import {
  REPO_ROOT,
  removeDataDir,
  requireClient,
  startServer,
  type RunningServer,
} from '../support/server.js';
import { namespacesUsable, NetworkLab, requireNamespaces, type Namespace } from './netns.js';

const enabled =
  requireClient('skopeo', await commandAvailable('skopeo')) &&
  requireClient('busybox-static', existsSync(BUSYBOX_PATH)) &&
  requireNamespaces(await namespacesUsable());

const API = 'api-version=2023-07-01';
const REPOSITORY = 'net/app';
const HELP = 'Refer https://aka.ms/acr/firewall to grant access.';
const SLOW = { timeout: 120_000 };
/** What skopeo prints for a 403 on its ping (1.9.3), or the body's message (newer versions). */
const REFUSED_BY_SKOPEO = /invalid status code from registry 403 \(Forbidden\)|not allowed access/;
const OPEN = {
  publicNetworkAccess: 'Enabled',
  networkRuleSet: { defaultAction: 'Allow', ipRules: [] },
};

type Where = 'inside' | 'moved' | 'host';

interface Audit {
  registry: string;
  door: string;
  source: string;
  operation: string;
  result: 'allowed' | 'refused';
  status?: number;
  reason: string;
}

interface Probe {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP GET, printed as JSON; run on the host or inside a namespace. */
const PROBE_SCRIPT = `
const http = require('node:http');
const [url, headers] = [process.argv[2], JSON.parse(process.argv[3])];
const request = http.request(url, { headers }, (response) => {
  let body = '';
  response.setEncoding('utf8');
  response.on('data', (chunk) => (body += chunk));
  response.on('end', () =>
    process.stdout.write(JSON.stringify({ status: response.statusCode, headers: response.headers, body })),
  );
});
request.on('error', (error) => {
  process.stderr.write(String(error));
  process.exitCode = 2;
});
request.end();
`;

/** The audit records the server logged after `mark` (an offset into its output). */
function auditSince(server: RunningServer, mark: number): Audit[] {
  const records: Audit[] = [];
  for (const line of server.output().slice(mark).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as { audit?: Audit };
      if (parsed.audit) records.push(parsed.audit);
    } catch {
      // a partial line
    }
  }
  return records;
}

/**
 * The audit records after `mark` once `done` says they are all there (log lines arrive through a
 * pipe, maybe after the client has its answer), or whatever arrived within 5 s.
 */
async function awaitAudit(
  server: RunningServer,
  mark: number,
  done: (records: Audit[]) => boolean,
): Promise<Audit[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const records = auditSince(server, mark);
    if (done(records) || Date.now() > deadline) return records;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!enabled)('network rules judged by real source addresses (skopeo in netns)', () => {
  let lab: NetworkLab;
  let inside: Namespace;
  let moved: Namespace;
  /** Listens on inside.hostAddress; the host end of that link is a trusted proxy. */
  let server: RunningServer;
  /** Listens on inside.hostAddress6. */
  let server6: RunningServer;
  let arm: ArmClient;
  let arm6: ArmClient;
  let loginServer6: string;
  let clients: ClientSandbox;
  let probeScript: string;
  let creds: string;

  beforeAll(async () => {
    lab = await NetworkLab.create([{ label: 'a', ipv6: true }, { label: 'b' }]);
    [inside, moved] = lab.namespaces as [Namespace, Namespace];
    const started = await Promise.allSettled([
      startServer({
        address: inside.hostAddress,
        extraArgs: ['--log-level', 'info', '--trusted-proxies', `${inside.hostAddress}/32`],
      }),
      startServer({ address: inside.hostAddress6!, extraArgs: ['--log-level', 'info'] }),
    ]);
    // Keep whichever started, so afterAll stops it even when the other did not.
    if (started[0].status === 'fulfilled') server = started[0].value;
    if (started[1].status === 'fulfilled') server6 = started[1].value;
    for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
    arm = new ArmClient(server);
    arm6 = new ArmClient(server6);
    creds = `${server.owner.clientId}:${server.owner.clientSecret}`;
    clients = await ClientSandbox.create('breakwater-network-');
    probeScript = clients.path('probe.cjs');
    await writeFile(probeScript, PROBE_SCRIPT);
    const layout = clients.path('layout');
    await buildImageLayout(layout, await sampleImageSpec('network'), 'v1');

    // skopeo 1.9.3 takes no IPv6 literal in a reference: inside reaches the IPv6 registry by
    // its login server name, which the registry resolves by name and only inside resolves.
    const registry6 = await arm6.arm('GET', `${arm6.registryId()}?${API}`);
    loginServer6 = (registry6.body as { properties: { loginServer: string } }).properties
      .loginServer;
    await lab.setHosts(inside, { [loginServer6]: inside.hostAddress6! });

    // The image, pushed while both registries are open: from the host, and from inside.
    expectSuccess(
      await clients.skopeo([
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        creds,
        `oci:${layout}:v1`,
        `docker://${server.host}/${REPOSITORY}:v1`,
      ]),
      () => server.output(),
    );
    expectSuccess(
      await skopeoFrom('inside', [
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        `${server6.owner.clientId}:${server6.owner.clientSecret}`,
        `oci:${layout}:v1`,
        `docker://${loginServer6}:${server6.port}/${REPOSITORY}:v1`,
      ]),
      () => server6.output(),
    );
  });

  afterEach(async () => {
    for (const client of [arm, arm6]) {
      const restored = await client.arm('PATCH', `${client.registryId()}?${API}`, {
        properties: OPEN,
      });
      expect(restored.status, restored.text).toBe(200);
    }
  });

  afterAll(async () => {
    const artifacts = join(REPO_ROOT, 'test-artifacts', 'interop');
    await mkdir(artifacts, { recursive: true });
    for (const [name, running] of [
      ['network-server.log', server],
      ['network-server6.log', server6],
    ] as const) {
      if (!running) continue;
      await running.stop();
      await writeFile(join(artifacts, name), running.output());
      removeDataDir(running.dataDir);
    }
    await clients?.cleanup();
    const problems = (await lab?.cleanup()) ?? [];
    expect(problems, 'network namespaces left behind').toEqual([]);
  });

  function namespace(where: Exclude<Where, 'host'>): Namespace {
    return where === 'inside' ? inside : moved;
  }

  function skopeoFrom(where: Where, args: string[]): Promise<RunResult> {
    if (where === 'host') return clients.skopeo(args);
    return lab.exec(
      namespace(where),
      'skopeo',
      ['--policy', clients.path('policy.json'), ...args],
      {
        env: clients.env,
      },
    );
  }

  /** `skopeo inspect` of the pushed image, as the owner. */
  function pull(where: Where): Promise<RunResult> {
    return skopeoFrom(where, [
      'inspect',
      '--tls-verify=false',
      '--creds',
      creds,
      `docker://${server.host}/${REPOSITORY}:v1`,
    ]);
  }

  /** A raw GET of the image's manifest from `where`. */
  async function probe(
    where: Where,
    headers: Record<string, string>,
    url = `${server.url}/v2/${REPOSITORY}/manifests/v1`,
  ): Promise<Probe> {
    const args = [probeScript, url, JSON.stringify({ accept: OCI_MANIFEST, ...headers })];
    const result =
      where === 'host'
        ? await run(process.execPath, args, { timeoutMs: 30_000 })
        : await lab.exec(namespace(where), process.execPath, args, { timeoutMs: 30_000 });
    if (result.code !== 0) throw new Error(`probe failed\n${describeRun(result)}`);
    return JSON.parse(result.stdout) as Probe;
  }

  async function configure(client: ArmClient, properties: Record<string, unknown>): Promise<void> {
    const patched = await client.arm('PATCH', `${client.registryId()}?${API}`, { properties });
    expect(patched.status, patched.text).toBe(200);
    const stored = (patched.body as { properties: Record<string, unknown> }).properties;
    for (const [key, value] of Object.entries(properties)) expect(stored[key]).toEqual(value);
  }

  const deny = (...values: string[]) => ({
    networkRuleSet: {
      defaultAction: 'Deny',
      ipRules: values.map((value) => ({ action: 'Allow', value })),
    },
  });
  /** inside's /30 (10.99.<n>.0-3): holds inside (.2) and its gateway (.1), not moved. */
  const insideSlash30 = () => inside.address.replace(/\.2$/, '.0/30');

  interface Row {
    name: string;
    properties: () => Record<string, unknown>;
    from: Where;
    /** skopeo's exit code: 0 pulled, 1 refused. */
    exit: 0 | 1;
    /** The address every decision of the row must have judged. */
    source: () => string;
    reason: () => string;
    /** The 403 body's message (exact string, or a pattern), for refused rows. */
    message?: () => string | RegExp;
  }

  const rows: Row[] = [
    {
      name: 'defaultAction Allow: the namespace client pulls',
      properties: () => ({ networkRuleSet: { defaultAction: 'Allow', ipRules: [] } }),
      from: 'inside',
      exit: 0,
      source: () => inside.address,
      reason: () => 'network: default action Allow',
    },
    {
      name: 'defaultAction Deny with an IP rule for the namespace address: it pulls',
      properties: () => deny(inside.address),
      from: 'inside',
      exit: 0,
      source: () => inside.address,
      reason: () => `network: ip rule ${inside.address}`,
    },
    {
      name: 'defaultAction Deny with a /30 holding the namespace: it pulls',
      properties: () => deny(insideSlash30()),
      from: 'inside',
      exit: 0,
      source: () => inside.address,
      reason: () => `network: ip rule ${insideSlash30()}`,
    },
    {
      name: 'the same /30, client moved to another address: refused',
      properties: () => deny(insideSlash30()),
      from: 'moved',
      exit: 1,
      source: () => moved.address,
      reason: () => `network: no ip rule matches ${moved.address} (default action Deny)`,
      message: () => `client with IP '${moved.address}' is not allowed access. ${HELP}`,
    },
    {
      name: 'publicNetworkAccess Disabled: the owner is refused, with its own message',
      properties: () => ({ publicNetworkAccess: 'Disabled', ...deny(inside.address) }),
      from: 'inside',
      exit: 1,
      source: () => inside.address,
      reason: () => 'network: public network access disabled',
      message: () =>
        new RegExp(
          `^client with IP '${inside.address.replace(/\./g, '\\.')}' is not allowed access: ` +
            'public network access to this registry is disabled\\.',
        ),
    },
    {
      name: 'from the host (judged by its veth address) while the rule lists only the namespace: refused',
      properties: () => deny(inside.address),
      from: 'host',
      exit: 1,
      source: () => inside.hostAddress,
      reason: () => `network: no ip rule matches ${inside.hostAddress} (default action Deny)`,
      message: () => `client with IP '${inside.hostAddress}' is not allowed access. ${HELP}`,
    },
  ];

  test.each(rows)('$name', SLOW, async (row) => {
    await configure(arm, row.properties());
    const mark = server.output().length;
    const pulled = await pull(row.from);
    const context = `${describeRun(pulled)}\n--- server log ---\n${server.output().slice(mark)}`;
    expect(pulled.code, context).toBe(row.exit);
    if (row.exit === 0) {
      expect(JSON.parse(pulled.stdout).Name, context).toBe(`${server.host}/${REPOSITORY}`);
    } else {
      expect(pulled.stderr, context).toMatch(REFUSED_BY_SKOPEO);
    }

    // The decision that let skopeo read the manifest, or the one that refused it.
    const decisive = (record: Audit) =>
      row.exit === 0
        ? record.operation === `GET /v2/${REPOSITORY}/manifests/v1` && record.result === 'allowed'
        : record.result === 'refused' && record.status === 403;
    const records = await awaitAudit(server, mark, (all) => all.some(decisive));
    const decision = records.find(decisive);
    expect(decision, `no decisive audit record\n${context}`).toBeDefined();
    expect(decision!.registry).toBe('myregistry');
    expect(decision!.door).toBe('public');
    expect(decision!.source).toBe(row.source());
    expect(decision!.reason).toContain(row.reason());
    // Every decision of this row judged the client's own address, nothing else.
    expect(new Set(records.map((record) => record.source))).toEqual(new Set([row.source()]));
    if (row.exit === 1) {
      // Refused at the network: nothing past the network stage was even attempted.
      expect(records.every((record) => record.result === 'refused')).toBe(true);
    }

    if (row.message) {
      const expected = row.message();
      // The 403 body from the same place: with the owner's credentials, and with none (the
      // network answers before any 401 challenge).
      const withAndWithout: Record<string, string>[] = [{ authorization: server.authHeader }, {}];
      for (const headers of withAndWithout) {
        const answer = await probe(row.from, headers);
        expect(answer.status, answer.body).toBe(403);
        expect(answer.headers['www-authenticate']).toBeUndefined();
        const error = (JSON.parse(answer.body) as { errors: { code: string; message: string }[] })
          .errors[0]!;
        expect(error.code).toBe('DENIED');
        if (typeof expected === 'string') expect(error.message).toBe(expected);
        else expect(error.message).toMatch(expected);
      }
    }
  });

  test(
    'a forged X-Forwarded-For from the namespace is ignored; a trusted proxy is believed',
    SLOW,
    async () => {
      await configure(arm, deny(inside.address));
      const auth = { authorization: server.authHeader };

      let mark = server.output().length;
      const forgeries: Record<string, string>[] = [
        { 'x-forwarded-for': inside.address },
        { forwarded: `for=${inside.address}` },
        { 'x-forwarded-for': `${inside.address}, ${inside.hostAddress}` },
      ];
      for (const forged of forgeries) {
        const answer = await probe('moved', { ...auth, ...forged });
        expect(answer.status, `${JSON.stringify(forged)}: ${answer.body}`).toBe(403);
        expect(answer.body).toContain(`client with IP '${moved.address}' is not allowed access`);
      }
      let records = await awaitAudit(server, mark, (all) => all.length >= 3);
      expect(records).toHaveLength(3);
      for (const record of records) {
        expect(record.source).toBe(moved.address);
        expect(record.result).toBe('refused');
        expect(record.reason).toContain(`network: no ip rule matches ${moved.address}`);
      }

      // The host end of inside's link is configured as a trusted proxy (--trusted-proxies): its
      // forwarded client is the one judged, both ways.
      mark = server.output().length;
      const believed = await probe('host', { ...auth, 'x-forwarded-for': inside.address });
      expect(believed.status, believed.body).toBe(200);
      const refused = await probe('host', { ...auth, 'x-forwarded-for': moved.address });
      expect(refused.status, refused.body).toBe(403);
      records = await awaitAudit(server, mark, (all) => all.length >= 2);
      expect(records.map((record) => [record.source, record.result])).toEqual([
        [inside.address, 'allowed'],
        [moved.address, 'refused'],
      ]);
      expect(records[0]!.reason).toContain(`network: ip rule ${inside.address}`);
    },
  );

  test(
    'IPv6: a rule for the namespace /128 lets skopeo in; the host end is refused',
    SLOW,
    async () => {
      const rule = `${inside.address6!}/128`;
      await configure(arm6, deny(rule));

      let mark = server6.output().length;
      const pulled = await skopeoFrom('inside', [
        'inspect',
        '--tls-verify=false',
        '--creds',
        `${server6.owner.clientId}:${server6.owner.clientSecret}`,
        `docker://${loginServer6}:${server6.port}/${REPOSITORY}:v1`,
      ]);
      expectSuccess(pulled, () => server6.output().slice(mark));
      const manifestRead = (record: Audit) =>
        record.operation === `GET /v2/${REPOSITORY}/manifests/v1` && record.result === 'allowed';
      let records = await awaitAudit(server6, mark, (all) => all.some(manifestRead));
      const decision = records.find(manifestRead);
      expect(decision, server6.output().slice(mark)).toBeDefined();
      expect(decision!.source).toBe(inside.address6);
      expect(decision!.reason).toContain(`network: ip rule ${rule}`);

      // The host reaches the IPv6 listener from the host end of the link, which no rule lists.
      mark = server6.output().length;
      const answer = await probe(
        'host',
        { authorization: server6.authHeader, host: server6.host },
        `${server6.url}/v2/${REPOSITORY}/manifests/v1`,
      );
      expect(answer.status, answer.body).toBe(403);
      expect(JSON.parse(answer.body).errors[0].message).toBe(
        `client with IP '${inside.hostAddress6!}' is not allowed access. ${HELP}`,
      );
      records = await awaitAudit(server6, mark, (all) => all.length >= 1);
      expect(records.map((record) => record.source)).toEqual([inside.hostAddress6]);
      expect(records[0]!.reason).toContain(`network: no ip rule matches ${inside.hostAddress6!}`);
    },
  );
});
