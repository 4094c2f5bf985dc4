/**
 * Scan findings on the Repositories blade, in a real browser against `breakwater serve`: an
 * image with zlib before Debian's fix is pushed while no vulnerability database is imported
 * (so no scan runs), the curated OSV database (test/fixtures/osv) is imported with the CLI, and
 * the owner presses "Scan now": the severity counts and the finding (advisory, CVE alias,
 * package, installed and fixed versions, severity, CVSS) appear on the page.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildImageLayout, type LayerEntry } from '../support/oci-layout.js';
import { pushLayoutOverHttp } from '../support/push-layout.js';
import {
  BIN,
  NODE_FLAGS,
  REPO_ROOT,
  removeDataDir,
  startServer,
  type RunningServer,
} from '../support/server.js';
import { chromiumAvailable, openBlade, openPortalAsOwner, type PortalBrowser } from './browser.js';

const available = chromiumAvailable();
const REGISTRY = 'myregistry';
const ZLIB_BEFORE_FIX = '1:1.2.11.dfsg-2+deb11u1';

const IMAGE: LayerEntry[][] = [
  [
    {
      path: 'etc/os-release',
      content: 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n',
    },
  ],
  [
    {
      path: 'var/lib/dpkg/status',
      content: [
        'Package: zlib1g',
        'Status: install ok installed',
        'Architecture: amd64',
        'Source: zlib',
        `Version: ${ZLIB_BEFORE_FIX}`,
        '',
      ].join('\n'),
    },
  ],
];

describe.skipIf(!available)('portal: scan findings', () => {
  let server: RunningServer;
  let browser: PortalBrowser;
  let work: string;

  beforeAll(async () => {
    server = await startServer();
    work = mkdtempSync(join(tmpdir(), 'breakwater-portal-scan-'));
    await buildImageLayout(join(work, 'layout'), { layers: IMAGE }, 'v1');
    // Pushed before any database exists: the push leaves no scan result.
    await pushLayoutOverHttp(server, server.host, join(work, 'layout'), 'v1', 'scan/app:v1');
    const imported = spawnSync(
      process.execPath,
      [...NODE_FLAGS, BIN, 'scanner', 'db', 'import', resolve(REPO_ROOT, 'test/fixtures/osv')],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        env: { ...process.env, BREAKWATER_DATA: server.dataDir },
      },
    );
    expect(imported.status, imported.stderr).toBe(0);
    browser = await openPortalAsOwner(server);
  });
  afterEach(() => {
    expect(browser.problems).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('scans an image on request and shows its findings', async () => {
    const { page } = browser;
    await openBlade(page, REGISTRY, 'Repositories');
    await page.getByRole('button', { name: 'scan/app' }).click();
    const row = page.getByRole('row').filter({ hasText: 'v1' });
    await row.getByText('Not scanned').waitFor();
    await browser.screenshot('21-repositories-not-scanned');

    await row.getByRole('button', { name: /^Scan sha256:[0-9a-f]{12}… now$/ }).click();
    await row.getByText('1 Critical').waitFor();
    const findings = page.getByRole('region', { name: /^Findings for sha256:/ });
    const finding = findings.getByRole('row').filter({ hasText: 'DSA-5218-1' });
    const cells = (await finding.getByRole('cell').allTextContents()).map((t) =>
      t.replace(/\s+/g, ' ').trim(),
    );
    expect(cells).toEqual([
      expect.stringMatching(/^DSA-5218-1 ?CVE-2022-37434/),
      'zlib1g (Debian:11)',
      ZLIB_BEFORE_FIX,
      '1:1.2.11.dfsg-2+deb11u2',
      'Critical',
      '9.8',
    ]);
    expect(await findings.textContent()).toContain('debian 11, 1 package, 1 finding.');
    // The scan pushed the image's SBOM: it shows as a referrer of the image.
    expect(await row.textContent()).toContain('application/spdx+json');
    await browser.screenshot('22-repositories-findings');

    // Hidden and shown again by keyboard-reachable buttons with names.
    await row.getByRole('button', { name: /^Findings in sha256:/ }).click();
    await findings.waitFor({ state: 'detached' });
  });
});
