/**
 * The brief's portal steps for trusted services, in a real browser: the owner grants a container
 * group's managed identity AcrPull in Access control, restricts the registry to Selected
 * networks, then unticks and re-ticks "Allow trusted Microsoft services to access this container
 * registry" with Save; the group's next pull is refused, then allowed again.
 *
 * The server here is the real composition root (`startBreakwater`: both listeners on real
 * sockets, TLS, the same code `breakwater serve` runs) in this process rather than a child,
 * because a trusted service's token comes from the platform's in-process managed-identity path
 * (`identity.managedIdentityToken`), which no HTTP endpoint of a spawned server hands out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { startBreakwater, type RunningBreakwater } from '../../src/server/server.js';
import { ArmClient } from '../support/arm-client.js';
import { putIdentityOnlyGroup } from '../support/identity-host.js';
import {
  chromiumAvailable,
  openBlade,
  openBrowser,
  signIn,
  type PortalBrowser,
} from './browser.js';
import { dataRequest, ociMessage, pushTinyImage, type DataResponse } from './data-client.js';

const available = chromiumAvailable();
const REGISTRY = 'myregistry';
const LOGIN_SERVER = 'myregistry.azurecr.localhost';
const ACR_AUDIENCE = 'https://containerregistry.azure.net';
const NULL_GUID = '00000000-0000-0000-0000-000000000000';

describe.skipIf(!available)('portal: the trusted-services checkbox', () => {
  let dataDir: string;
  let running: RunningBreakwater;
  let dataUrl: string;
  let owner: RunningBreakwater['bootstrap'] & {};
  let armClient: ArmClient;
  let browser: PortalBrowser;
  let groupId: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'breakwater-portal-'));
    running = await startBreakwater({
      ...DEFAULT_CONFIG,
      data: dataDir,
      listen: '127.0.0.1:0',
      managementListen: '127.0.0.1:0',
      logLevel: 'silent',
    });
    owner = running.bootstrap!;
    dataUrl = `http://${running.listenAddress}`;
    armClient = new ArmClient({
      managementUrl: running.managementUrl,
      caPath: join(dataDir, 'tls', 'ca.crt'),
      owner,
    });
    const ownerAuth = `Basic ${Buffer.from(`${owner.clientId}:${owner.clientSecret}`).toString('base64')}`;
    await pushTinyImage(dataUrl, ownerAuth, 'apps/web', 'v1');

    groupId = `/subscriptions/${owner.subscriptionId}/resourceGroups/breakwater/providers/Microsoft.ContainerInstance/containerGroups/portal-group`;
    // A group's PUT deploys its images; here only its identity matters.
    await putIdentityOnlyGroup(running.platform, groupId);

    browser = await openBrowser(join(dataDir, 'tls', 'ca.crt'));
    await signIn(browser.page, running.managementUrl, owner.clientId, owner.clientSecret);
  });
  afterEach(() => {
    // The portal runs under its CSP without a single violation or uncaught error.
    expect(browser.problems).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await running?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** What the container group's host does: managed-identity token -> exchange -> pull. */
  async function trustedPull(): Promise<DataResponse> {
    const { token } = await running.platform.identity.managedIdentityToken(
      groupId,
      'system',
      ACR_AUDIENCE,
    );
    const exchanged = await dataRequest(dataUrl, '/oauth2/exchange', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'access_token',
        service: LOGIN_SERVER,
        tenant: owner.tenantId,
        access_token: token,
      }).toString(),
    });
    if (exchanged.status !== 200) return exchanged;
    const refresh = (JSON.parse(exchanged.body) as { refresh_token: string }).refresh_token;
    return dataRequest(dataUrl, '/v2/apps/web/manifests/v1', {
      headers: {
        authorization: `Basic ${Buffer.from(`${NULL_GUID}:${refresh}`).toString('base64')}`,
        accept: 'application/vnd.oci.image.manifest.v1+json',
      },
    });
  }

  async function bypassOption(): Promise<string> {
    const response = await armClient.arm(
      'GET',
      `${armClient.registryId(REGISTRY)}?api-version=2025-11-01`,
    );
    return (response.body as { properties: { networkRuleBypassOptions: string } }).properties
      .networkRuleBypassOptions;
  }

  it('shows what the registry holds', async () => {
    const { page } = browser;
    await openBlade(page, REGISTRY, 'Repositories');
    await page.getByRole('button', { name: 'apps/web' }).click();
    const row = page.getByRole('row').filter({ hasText: 'v1' });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/sha256:[0-9a-f]{12}/);
    await browser.screenshot('11-repositories');
  });

  it('grants the container group AcrPull in Access control, and Identity shows it', async () => {
    const { page } = browser;
    const group = await armClient.arm('GET', `${groupId}?api-version=2023-05-01`);
    const principalId = (group.body as { identity: { principalId: string } }).identity.principalId;
    await openBlade(page, REGISTRY, 'Access control (IAM)');
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'AcrPull' });
    await page.getByLabel('Principal object ID').fill(principalId);
    await page.getByRole('button', { name: 'Assign' }).click();
    await page.getByRole('button', { name: `Remove AcrPull from ${principalId}` }).waitFor();
    await browser.screenshot('12-access-control');

    // The Identity blade shows who the trusted-services exception would admit.
    await openBlade(page, REGISTRY, 'Identity');
    const row = page.getByRole('row').filter({ hasText: 'portal-group' });
    await row.waitFor();
    expect((await row.textContent())?.replace(/\s+/g, ' ')).toBe(
      `portal-groupContainer group${principalId}AcrPullYes`,
    );
    // And turns on the registry's own system-assigned identity.
    await page.getByLabel('Enabled').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    const registry = await armClient.arm(
      'GET',
      `${armClient.registryId(REGISTRY)}?api-version=2025-11-01`,
    );
    const identity = (registry.body as { identity: { type: string; principalId: string } })
      .identity;
    expect(identity.type).toBe('SystemAssigned');
    await page.getByText(`Principal ID: ${identity.principalId}`).waitFor();
    await browser.screenshot('13-identity');
  });

  it('untick, Save: the trusted pull is refused; tick, Save: allowed again', async () => {
    const { page } = browser;
    await openBlade(page, REGISTRY, 'Networking');
    await page.getByLabel('Selected networks').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    expect((await trustedPull()).status).toBe(200);

    const checkbox = page.getByLabel(
      'Allow trusted Microsoft services to access this container registry',
    );
    expect(await checkbox.isChecked()).toBe(true);
    await checkbox.uncheck();
    await page.getByText('Trusted services: no longer allow').waitFor();
    await page.getByText(/^Trusted services get no exception/).waitFor();
    await browser.screenshot('14-trusted-services-unticked-before-save');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();

    expect(await bypassOption()).toBe('None');
    const refused = await trustedPull();
    expect(refused.status).toBe(403);
    expect(ociMessage(refused)).toBe(
      "client with IP '127.0.0.1' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.",
    );

    await checkbox.check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    expect(await bypassOption()).toBe('AzureServices');
    expect((await trustedPull()).status).toBe(200);
    await browser.screenshot('15-trusted-services-ticked');

    // The access log tells both stories.
    await openBlade(page, REGISTRY, 'Access log');
    await page
      .getByText(/network: trusted-service bypass/)
      .first()
      .waitFor();
    await page
      .getByText(/trusted services are not allowed/)
      .first()
      .waitFor();
    await browser.screenshot('16-access-log-trusted');
  });
});
