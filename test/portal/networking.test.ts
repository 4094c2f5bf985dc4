/**
 * The portal in a real browser (Debian's Chromium through playwright-core) against the real
 * `breakwater serve`: the owner signs in with the bootstrap service principal, changes the
 * default registry's Networking blade, and a plain client on the data endpoint sees the effect;
 * the Access log blade shows the refusal and its reason. Screenshots: test-artifacts/portal/.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ArmClient } from '../support/arm-client.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';
import {
  chromiumAvailable,
  openBlade,
  openPortalAsOwner,
  tabTo,
  type PortalBrowser,
} from './browser.js';
import { dataRequest, ociMessage } from './data-client.js';

const available = chromiumAvailable();
const REGISTRY = 'myregistry';
/** A second loopback address: the "client from that range". */
const RANGE_CLIENT = '127.0.0.9';

describe.skipIf(!available)('portal: networking and the access log', () => {
  let server: RunningServer;
  let armClient: ArmClient;
  let browser: PortalBrowser;

  beforeAll(async () => {
    server = await startServer();
    armClient = new ArmClient(server);
    browser = await openPortalAsOwner(server);
  });
  afterEach(() => {
    // The portal runs under its CSP without a single violation or uncaught error.
    expect(browser.problems).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  const plainPull = (from?: string) =>
    dataRequest(server.url, '/v2/', {
      ...(from ? { from } : {}),
      headers: { authorization: server.authHeader },
    });

  async function registryProperties(): Promise<Record<string, unknown>> {
    const response = await armClient.arm(
      'GET',
      `${armClient.registryId(REGISTRY)}?api-version=2025-11-01`,
    );
    expect(response.status).toBe(200);
    return (response.body as { properties: Record<string, unknown> }).properties;
  }

  it('says in words why a sign-in fails', async () => {
    // A second tab has its own session storage: signed out.
    const page = await browser.context.newPage();
    try {
      await page.goto(`${server.managementUrl}/`);
      await page.getByLabel('Client ID').fill(server.owner.clientId);
      await page.getByLabel('Client secret').fill('not-the-secret');
      await page.keyboard.press('Enter');
      const alert = page.getByRole('alert');
      await alert.waitFor();
      expect(await alert.textContent()).toContain('AADSTS7000215: Invalid client secret provided.');
    } finally {
      await page.close();
    }
  });

  it('lists the registries and shows the Overview of the default one', async () => {
    const { page } = browser;
    await page.getByRole('link', { name: REGISTRY, exact: true }).waitFor();
    await browser.screenshot('01-registries');
    await openBlade(page, REGISTRY, 'Overview');
    await page.getByText(`${REGISTRY}.azurecr.localhost`).waitFor();
    await page.getByText(/of 500\.0 GiB included/).waitFor();
    await browser.screenshot('02-overview');
  });

  it('creates a registry, says in words why a name is refused, and deletes it', async () => {
    const { page } = browser;
    await page.goto(`${server.managementUrl}/portal/#/registries`);
    await page.getByLabel('Registry name').fill('no-dashes');
    await page.getByRole('button', { name: 'Create' }).click();
    const refused = page.getByRole('alert');
    await refused.waitFor();
    expect(await refused.textContent()).toContain("Registry name 'no-dashes' is invalid.");

    await page.getByLabel('Registry name').fill('portalmade');
    await page.getByLabel('SKU').selectOption('Standard');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('status').getByText('Created registry portalmade.').waitFor();
    const row = page.getByRole('row').filter({ hasText: 'portalmade.azurecr.localhost' });
    expect((await row.textContent())?.replace(/\s+/g, ' ')).toContain('Standard');
    const created = await armClient.arm(
      'GET',
      `${armClient.registryId('portalmade')}?api-version=2025-11-01`,
    );
    expect(created.status).toBe(200);
    await browser.screenshot('01b-registry-created');

    // A Standard registry cannot turn public access off: the API's words, next to Save.
    await openBlade(page, 'portalmade', 'Networking');
    await page.getByText('This registry is Standard').waitFor();
    await page.getByLabel('Disabled', { exact: true }).check();
    await page.getByRole('button', { name: 'Save' }).click();
    const skuRefusal = page.getByRole('alert');
    await skuRefusal.waitFor();
    expect(await skuRefusal.textContent()).toContain(
      'Disabling public network access is not supported for the SKU Standard.',
    );
    await browser.screenshot('01c-networking-sku-refusal');
    await page
      .getByRole('navigation', { name: 'Registry portalmade' })
      .getByRole('link', { name: 'Container registries' })
      .click();

    await page.getByRole('button', { name: 'Delete registry portalmade' }).click();
    await page.getByRole('button', { name: 'Delete portalmade and everything in it' }).click();
    await page.getByRole('status').getByText('Deleted registry portalmade.').waitFor();
    await row.waitFor({ state: 'detached' });
    const gone = await armClient.arm(
      'GET',
      `${armClient.registryId('portalmade')}?api-version=2025-11-01`,
    );
    expect(gone.status).toBe(404);
  });

  it('Disabled, Save: the public endpoint refuses a plain client, and the Access log says why', async () => {
    const { page } = browser;
    expect((await plainPull()).status).toBe(200);
    await openBlade(page, REGISTRY, 'Networking');
    // By keyboard alone: arrows move through the radio group, Tab reaches Save.
    await page.getByLabel('All networks').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect(await page.getByLabel('Disabled', { exact: true }).isChecked()).toBe(true);
    // What the setting will do is on the page before Save.
    await page
      .getByText('Disabled: only private endpoints and trusted services can reach this registry.')
      .waitFor();
    await page.getByText('Public network access: All networks → Disabled').waitFor();
    await browser.screenshot('03-networking-disabled-before-save');
    await tabTo(page, 'Save');
    await page.keyboard.press('Enter');
    await page.getByRole('status').getByText('Saved.').waitFor();

    expect((await registryProperties()).publicNetworkAccess).toBe('Disabled');
    const refused = await plainPull();
    expect(refused.status).toBe(403);
    expect(ociMessage(refused)).toContain('public network access to this registry is disabled');

    await openBlade(page, REGISTRY, 'Access log');
    await page.getByLabel('Result').selectOption('refused');
    await page.getByRole('button', { name: 'Apply' }).click();
    // The chart's label follows the filter: only refusals once it has applied.
    await page.getByRole('img', { name: /^0 allowed and [1-9]\d* refused/ }).waitFor();
    const row = page
      .getByRole('row')
      .filter({ hasText: 'network: public network access disabled' })
      .first();
    expect(await row.textContent()).toContain('Refused (403)');
    await browser.screenshot('04-access-log-refusal');
  });

  it('Selected networks with a firewall range: a client from that range gets in, others do not', async () => {
    const { page } = browser;
    await openBlade(page, REGISTRY, 'Networking');
    await page.getByLabel('Selected networks').check();
    await page.getByText(/^Selected networks with no address ranges/).waitFor();

    // "Add your client IP address" offers the address the server sees: the browser's loopback.
    await page.getByRole('button', { name: 'Add your client IP address (127.0.0.1)' }).click();
    await page.getByRole('button', { name: 'Remove address range 127.0.0.1' }).click();

    // The API's validation message appears next to the firewall, and nothing is saved.
    await page.getByLabel('Address range').fill('300.1.2.3');
    await page.getByRole('button', { name: 'Add range' }).click();
    await page.getByRole('button', { name: 'Save' }).click();
    const invalid = page.locator('#firewall-error');
    await invalid.waitFor();
    expect(await invalid.textContent()).toContain("Invalid IP rule value '300.1.2.3'");
    expect((await registryProperties()).publicNetworkAccess).toBe('Disabled');
    await browser.screenshot('05-networking-validation');
    await page.getByRole('button', { name: 'Remove address range 300.1.2.3' }).click();

    await page.getByLabel('Address range').fill(`${RANGE_CLIENT}/32`);
    await page.getByLabel('Address range').press('Enter');
    await page
      .getByText(
        'Selected networks: only clients from the address range below, and private endpoints, can reach this registry.',
      )
      .waitFor();
    await browser.screenshot('06-networking-range-before-save');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();

    const properties = await registryProperties();
    expect(properties.publicNetworkAccess).toBe('Enabled');
    expect(properties.networkRuleSet).toEqual({
      defaultAction: 'Deny',
      ipRules: [{ action: 'Allow', value: `${RANGE_CLIENT}/32` }],
    });
    expect((await plainPull(RANGE_CLIENT)).status).toBe(200);
    const outside = await plainPull('127.0.0.1');
    expect(outside.status).toBe(403);
    expect(ociMessage(outside)).toBe(
      "client with IP '127.0.0.1' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.",
    );

    // Discard puts the saved settings back without touching the registry.
    await page.getByLabel('All networks').check();
    await page.getByRole('button', { name: 'Discard' }).click();
    await expect.poll(() => page.getByLabel('Selected networks').isChecked()).toBe(true);
    await browser.screenshot('07-networking-saved');
  });

  it('approves and rejects private endpoint connections', async () => {
    const { page } = browser;
    const group = `/subscriptions/${server.owner.subscriptionId}/resourceGroups/breakwater/providers/Microsoft.Network`;
    const vnet = await armClient.arm(
      'PUT',
      `${group}/virtualNetworks/portal-vnet?api-version=2023-05-01`,
      {
        location: 'local',
        properties: {
          addressSpace: { addressPrefixes: ['127.88.0.0/16'] },
          subnets: [{ name: 'endpoints', properties: { addressPrefix: '127.88.1.0/24' } }],
        },
      },
    );
    expect(vnet.status).toBe(201);
    for (const name of ['pe-approve', 'pe-reject']) {
      // Manual connections wait for the registry owner: Pending until approved or rejected.
      const created = await armClient.arm(
        'PUT',
        `${group}/privateEndpoints/${name}?api-version=2023-05-01`,
        {
          location: 'local',
          properties: {
            subnet: { id: `${group}/virtualNetworks/portal-vnet/subnets/endpoints` },
            manualPrivateLinkServiceConnections: [
              {
                name: `${name}-link`,
                properties: {
                  privateLinkServiceId: armClient.registryId(REGISTRY),
                  groupIds: ['registry'],
                },
              },
            ],
          },
        },
      );
      expect(created.status).toBe(201);
    }

    await openBlade(page, REGISTRY, 'Networking');
    const rowOf = (endpoint: string) => page.getByRole('row').filter({ hasText: endpoint });
    await rowOf('pe-approve').getByText('Pending').waitFor();
    await browser.screenshot('08-private-endpoints-pending');
    await rowOf('pe-approve')
      .getByRole('button', { name: /^Approve/ })
      .click();
    await rowOf('pe-approve').getByText('Approved').waitFor();
    await rowOf('pe-reject')
      .getByRole('button', { name: /^Reject/ })
      .click();
    await rowOf('pe-reject').getByText('Rejected').waitFor();
    await browser.screenshot('09-private-endpoints-decided');

    const listed = await armClient.arm(
      'GET',
      `${armClient.registryId(REGISTRY)}/privateEndpointConnections?api-version=2025-11-01`,
    );
    const states = Object.fromEntries(
      (
        listed.body as {
          value: {
            properties: {
              privateEndpoint: { id: string };
              privateLinkServiceConnectionState: { status: string };
            };
          }[];
        }
      ).value.map((c) => [
        c.properties.privateEndpoint.id.split('/').at(-1),
        c.properties.privateLinkServiceConnectionState.status,
      ]),
    );
    expect(states).toEqual({ 'pe-approve': 'Approved', 'pe-reject': 'Rejected' });
  });

  it('runs a task now and follows its log: the firewall refuses the run, in words', async () => {
    const { page } = browser;
    const taskFile = ['version: v1.1.0', 'steps:', '  - cmd: $Registry/not/there:v1', ''].join(
      '\n',
    );
    const task = await armClient.arm(
      'PUT',
      `${armClient.registryId(REGISTRY)}/tasks/portaltask?api-version=2019-06-01-preview`,
      {
        location: 'local',
        properties: {
          platform: { os: 'linux', architecture: 'amd64' },
          step: {
            type: 'EncodedTask',
            encodedTaskContent: Buffer.from(taskFile).toString('base64'),
          },
        },
      },
    );
    expect(task.status, task.text).toBe(201);

    await openBlade(page, REGISTRY, 'Tasks');
    await page.getByRole('button', { name: 'Run portaltask now' }).click();
    await page
      .getByRole('status')
      .getByText(/^Queued run ca\d+ of portaltask\.$/)
      .waitFor();
    // The registry still admits only 127.0.0.9/32 (the firewall test above), and a quick run
    // without a trusted identity gets no exception: the run fails, and its log says why.
    await page.getByText('Run complete: failed.').waitFor();
    const log = await page.locator('pre.log').textContent();
    expect(log).toMatch(/^Run ID: ca\d+ started on /);
    expect(log).toContain(
      "403 DENIED: client with IP '127.0.0.1' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.",
    );
    const runs = await armClient.arm(
      'GET',
      `${armClient.registryId(REGISTRY)}/runs?api-version=2019-06-01-preview`,
    );
    const run = (runs.body as { value: { properties: { status: string; task: string } }[] })
      .value[0]!;
    expect(run.properties).toMatchObject({ status: 'Failed', task: 'portaltask' });
    await browser.screenshot('10-tasks-run-log');
  });
});
