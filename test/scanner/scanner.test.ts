/**
 * The vulnerability scanner end to end, on a real server: images built here (dpkg status files,
 * node_modules, whiteouts) are pushed with skopeo; each push queues a scan, which the scanner
 * runs as the first-party scanner identity through the public data endpoint. Results are read
 * through the management API and the CLI; the SBOM referrer is listed by the referrers API and
 * pulled by skopeo. A network-restricted registry refuses the scanner until trusted services
 * are allowed again. A new database import re-scans what was scanned.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScanResult } from '../../src/services/scanner/index.js';
import { startCliSession, type CliSession } from '../cli/cli.js';
import { ArmClient } from '../support/arm-client.js';
import { ClientSandbox, commandAvailable, expectSuccess } from '../support/clients.js';
import {
  buildImageLayout,
  buildIndexLayout,
  readBlob,
  type LayerEntry,
} from '../support/oci-layout.js';
import { requireClient, type RunningServer } from '../support/server.js';

const enabled = requireClient('skopeo', await commandAvailable('skopeo'));
const API = 'api-version=2023-07-01';
const REPOSITORY = 'scan/app';
const CURATED = resolve('test/fixtures/osv');
const SLOW = { timeout: 120_000 };

const DEBIAN_11: LayerEntry = {
  path: 'etc/os-release',
  content: 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n',
};

function dpkgStatus(zlibVersion: string): LayerEntry {
  return {
    path: 'var/lib/dpkg/status',
    content: [
      'Package: libc6',
      'Status: install ok installed',
      'Architecture: amd64',
      'Source: glibc',
      'Version: 2.31-13+deb11u5',
      '',
      'Package: zlib1g',
      'Status: install ok installed',
      'Architecture: amd64',
      'Source: zlib',
      `Version: ${zlibVersion}`,
      'Description: compression library - runtime',
      ' zlib is a library implementing the deflate compression method.',
      '',
    ].join('\n'),
  };
}

const LODASH: LayerEntry = {
  path: 'srv/app/node_modules/lodash/package.json',
  content: JSON.stringify({ name: 'lodash', version: '4.17.20' }),
};

describe.skipIf(!enabled)('vulnerability scanner', () => {
  let session: CliSession;
  let server: RunningServer;
  let arm: ArmClient;
  let clients: ClientSandbox;
  let work: string;
  const digests: Record<string, string> = {};
  const layers: Record<string, string[]> = {};
  let indexChildren: { amd64: string; arm64: string };

  const results = async (query: string): Promise<ScanResult[]> => {
    const response = await arm.arm('GET', `${arm.registryId()}/scanResults?${query}&${API}`);
    expect(response.status, response.text).toBe(200);
    return (response.body as { value: ScanResult[] }).value;
  };

  /** The result for a digest once `ready` accepts it (scans run in the background). */
  const resultFor = async (
    digest: string,
    ready: (r: ScanResult) => boolean = () => true,
  ): Promise<ScanResult> => {
    for (let attempt = 0; attempt < 300; attempt++) {
      const [result] = await results(`digest=${encodeURIComponent(digest)}`);
      if (result && ready(result)) return result;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no scan result for ${digest}\n${server.output().slice(-3000)}`);
  };

  const patchRegistry = async (properties: Record<string, unknown>) => {
    const response = await arm.arm('PATCH', `${arm.registryId()}?${API}`, { properties });
    expect(response.status, response.text).toBe(200);
  };

  beforeAll(async () => {
    session = await startCliSession({ env: { BREAKWATER_SCANNER_DATABASE_POLL_SECONDS: '1' } });
    server = session.server;
    arm = new ArmClient(server);
    expect(session.run('login').status).toBe(0);
    const imported = session.run('scanner', 'db', 'import', CURATED);
    expect(imported.stderr).toBe('');
    expect(imported.json()).toMatchObject({ advisoryCount: 15, changed: true });

    clients = await ClientSandbox.create();
    work = await mkdtemp(join(tmpdir(), 'bw-scanner-'));
    const layout = join(work, 'layout');
    const images: Record<string, LayerEntry[][]> = {
      // zlib before the fix, and lodash before 4.17.21
      affected: [[DEBIAN_11], [dpkgStatus('1:1.2.11.dfsg-2+deb11u1')], [LODASH]],
      // the fixed zlib
      fixed: [[DEBIAN_11], [dpkgStatus('1:1.2.11.dfsg-2+deb11u2')]],
      // the affected status file, then a layer that deletes it and node_modules
      whiteout: [
        [DEBIAN_11],
        [dpkgStatus('1:1.2.11.dfsg-2+deb11u1'), LODASH],
        [
          { path: 'var/lib/dpkg/.wh.status', content: '' },
          { path: 'srv/app/.wh.node_modules', content: '' },
        ],
      ],
    };
    for (const [tag, spec] of Object.entries(images)) {
      const built = await buildImageLayout(layout, { layers: spec }, tag);
      layers[tag] = built.layerDigests;
      const digestFile = join(work, `${tag}.digest`);
      expectSuccess(
        await clients.skopeo([
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          `${server.owner.clientId}:${server.owner.clientSecret}`,
          '--digestfile',
          digestFile,
          `oci:${layout}:${tag}`,
          `docker://${server.host}/${REPOSITORY}:${tag}`,
        ]),
        () => server.output(),
      );
      digests[tag] = (await readFile(digestFile, 'utf8')).trim();
    }
    // A multi-platform index: its linux/amd64 image is the one scanned.
    const index = await buildIndexLayout(
      join(work, 'index-layout'),
      [
        { layers: images.affected!, annotations: { 'org.example.copy': 'in an index' } },
        { layers: images.fixed!, platform: { architecture: 'arm64', os: 'linux' } },
      ],
      'multi',
    );
    indexChildren = {
      amd64: index.images[0]!.manifestDigest,
      arm64: index.images[1]!.manifestDigest,
    };
    expectSuccess(
      await clients.skopeo([
        'copy',
        '--all',
        '--dest-tls-verify=false',
        '--dest-creds',
        `${server.owner.clientId}:${server.owner.clientSecret}`,
        `oci:${join(work, 'index-layout')}:multi`,
        `docker://${server.host}/${REPOSITORY}:multi`,
      ]),
      () => server.output(),
    );
    digests.multi = index.indexDigest;
  }, SLOW.timeout);

  afterAll(async () => {
    await clients?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
    await session?.close();
  });

  it('a pushed image with an affected package gets the finding, with severity and fix', async () => {
    const result = await resultFor(digests.affected!);
    expect(result.reason).toBeUndefined();
    expect(result).toMatchObject({
      repository: REPOSITORY,
      digest: digests.affected,
      imageDigest: digests.affected,
      status: 'Succeeded',
      trigger: 'push',
      os: { id: 'debian', versionId: '11' },
      packageCount: 3,
      summary: { Critical: 1, High: 1, Medium: 0, Low: 0, Unknown: 0, total: 2 },
    });
    expect(result.databaseVersion).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{12}$/);
    expect(result.findings).toEqual([
      {
        id: 'DSA-5218-1',
        aliases: ['CVE-2022-37434'],
        summary: 'zlib - security update',
        severity: 'Critical',
        cvssScore: 9.8,
        package: {
          ecosystem: 'Debian:11',
          name: 'zlib1g',
          sourceName: 'zlib',
          installedVersion: '1:1.2.11.dfsg-2+deb11u1',
          fixedVersion: '1:1.2.11.dfsg-2+deb11u2',
          layer: layers.affected![1],
          path: 'var/lib/dpkg/status',
        },
      },
      {
        id: 'GHSA-35jh-r3h4-6jhm',
        aliases: ['CVE-2021-23337'],
        summary: 'Command Injection in lodash',
        severity: 'High',
        cvssScore: 7.2,
        package: {
          ecosystem: 'npm',
          name: 'lodash',
          installedVersion: '4.17.20',
          fixedVersion: '4.17.21',
          layer: layers.affected![2],
          path: 'srv/app/node_modules/lodash/package.json',
        },
      },
    ]);
  });

  it('the fixed version gets no finding; a whiteout hides the deleted packages', async () => {
    const fixed = await resultFor(digests.fixed!);
    expect(fixed).toMatchObject({ status: 'Succeeded', packageCount: 2, findings: [] });
    expect(fixed.summary.total).toBe(0);
    const whitedOut = await resultFor(digests.whiteout!);
    expect(whitedOut).toMatchObject({ status: 'Succeeded', packageCount: 0, findings: [] });
  });

  it('a pushed index is scanned through its linux/amd64 image', async () => {
    const result = await resultFor(digests.multi!);
    expect(result).toMatchObject({
      digest: digests.multi,
      imageDigest: indexChildren.amd64,
      status: 'Succeeded',
      summary: { Critical: 1, High: 1, total: 2 },
    });
    // Each child manifest push is an image push too, scanned on its own.
    expect(await resultFor(indexChildren.arm64)).toMatchObject({
      status: 'Succeeded',
      findings: [],
    });
  });

  it('the CLI refuses an unreadable database path with one ERROR line', () => {
    const missing = session.run('scanner', 'db', 'import', join(work, 'nothing-here'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(`ERROR: ${join(work, 'nothing-here')}: no such file or folder\n`);
  });

  it('the CLI shows a result by tag, as JSON and as a table', () => {
    const json = session.run(
      'acr',
      'scan',
      'show',
      '-n',
      'myregistry',
      '-t',
      `${REPOSITORY}:affected`,
    );
    expect(json.stderr).toBe('');
    expect(json.json<ScanResult>()).toMatchObject({
      digest: digests.affected,
      status: 'Succeeded',
    });
    const table = session.run(
      'acr',
      'scan',
      'show',
      '-n',
      'myregistry',
      '-t',
      `${REPOSITORY}:affected`,
      '-o',
      'table',
    );
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(
      /Critical\s+DSA-5218-1\s+CVE-2022-37434\s+zlib1g\s+1:1\.2\.11\.dfsg-2\+deb11u1\s+1:1\.2\.11\.dfsg-2\+deb11u2/,
    );
    const list = session.run('acr', 'scan', 'list', '-n', 'myregistry', '--repository', REPOSITORY);
    expect(
      list
        .json<ScanResult[]>()
        .map((r) => r.digest)
        .sort(),
    ).toEqual([...Object.values(digests), indexChildren.amd64, indexChildren.arm64].sort());
  });

  it('the SBOM is listed by the referrers API and pulled by skopeo', SLOW, async () => {
    const result = await resultFor(digests.affected!);
    const sbom = result.sbom as { digest: string; artifactType: string };
    expect(sbom.artifactType).toBe('application/spdx+json');
    const referrers = await fetch(`${server.url}/v2/${REPOSITORY}/referrers/${digests.affected}`, {
      headers: { authorization: server.authHeader },
    });
    expect(referrers.status).toBe(200);
    const index = (await referrers.json()) as { manifests: Array<Record<string, unknown>> };
    expect(index.manifests).toEqual([
      expect.objectContaining({ digest: sbom.digest, artifactType: 'application/spdx+json' }),
    ]);
    const pulled = join(work, 'sbom');
    expectSuccess(
      await clients.skopeo([
        'copy',
        '--src-tls-verify=false',
        '--src-creds',
        `${server.owner.clientId}:${server.owner.clientSecret}`,
        `docker://${server.host}/${REPOSITORY}@${sbom.digest}`,
        `oci:${pulled}:sbom`,
      ]),
      () => server.output(),
    );
    const manifest = JSON.parse((await readBlob(pulled, sbom.digest)).toString()) as {
      subject: { digest: string };
      layers: Array<{ digest: string }>;
    };
    expect(manifest.subject.digest).toBe(digests.affected);
    const spdx = JSON.parse((await readBlob(pulled, manifest.layers[0]!.digest)).toString()) as {
      spdxVersion: string;
      packages: Array<{ name: string; versionInfo: string; externalRefs?: unknown[] }>;
    };
    expect(spdx.spdxVersion).toBe('SPDX-2.3');
    expect(spdx.packages).toContainEqual(
      expect.objectContaining({
        name: 'zlib1g',
        versionInfo: '1:1.2.11.dfsg-2+deb11u1',
        externalRefs: [
          {
            referenceCategory: 'PACKAGE-MANAGER',
            referenceType: 'purl',
            referenceLocator: 'pkg:deb/debian/zlib1g@1%3A1.2.11.dfsg-2%2Bdeb11u1?distro=debian-11',
          },
        ],
      }),
    );
    // The SBOM itself is an artifact, not an image: it gets no scan of its own.
    expect(await results(`digest=${encodeURIComponent(sbom.digest)}`)).toEqual([]);
  });

  it(
    'a restricted registry refuses the scanner until trusted services are allowed again',
    SLOW,
    async () => {
      await patchRegistry({ publicNetworkAccess: 'Disabled', networkRuleBypassOptions: 'None' });
      try {
        const refused = session.run(
          'acr',
          'scan',
          'run',
          '-n',
          'myregistry',
          '-t',
          `${REPOSITORY}:fixed`,
        );
        expect(refused.status).toBe(1);
        expect(refused.stderr).toMatch(
          /^ERROR: unable to scan: network restricted \(client with IP '[^']+' is not allowed access: public network access to this registry is disabled\. Use a private endpoint or a trusted service\. Refer https:\/\/aka\.ms\/acr\/firewall to grant access\.\)\n$/,
        );
        const failed = await resultFor(digests.fixed!, (r) => r.trigger === 'request');
        expect(failed).toMatchObject({ status: 'Failed', findings: [] });
        expect(failed.reason).toMatch(/^unable to scan: network restricted \(/);

        await patchRegistry({ networkRuleBypassOptions: 'AzureServices' });
        const allowed = session.run(
          'acr',
          'scan',
          'run',
          '-n',
          'myregistry',
          '-t',
          `${REPOSITORY}:affected`,
        );
        expect(allowed.stderr).toBe('');
        expect(allowed.json<ScanResult>()).toMatchObject({
          status: 'Succeeded',
          trigger: 'request',
          summary: { total: 2 },
        });
      } finally {
        await patchRegistry({
          publicNetworkAccess: 'Enabled',
          networkRuleBypassOptions: 'AzureServices',
        });
      }
    },
  );

  it('a new database re-scans what was scanned', SLOW, async () => {
    const tarball = join(work, 'osv.tar.gz');
    execFileSync('tar', ['-czf', tarball, '-C', CURATED, 'DSA-5218-1.json', 'CVE-2022-37434.json']);
    const imported = session.run('scanner', 'db', 'import', tarball);
    expect(imported.status).toBe(0);
    const version = imported.json<{ version: string; advisoryCount: number }>();
    expect(version.advisoryCount).toBe(2);
    const rescanned = await resultFor(
      digests.affected!,
      (r) => r.databaseVersion === version.version,
    );
    expect(rescanned).toMatchObject({ status: 'Succeeded', trigger: 'database' });
    // lodash's advisory is not in the new database; zlib's still is.
    expect(rescanned.findings.map((f) => f.id)).toEqual(['DSA-5218-1']);
    const fixed = await resultFor(digests.fixed!, (r) => r.databaseVersion === version.version);
    expect(fixed).toMatchObject({ status: 'Succeeded', findings: [] });
  });
});
