/**
 * The brief's portal steps for trusted services, in a real browser against `breakwater serve`
 * (a spawned server like every other suite; the trusted services are driven only through ARM):
 * the owner grants a managed identity AcrPull in Access control and restricts the registry to
 * Selected networks; on the Container instances page a group created from the registry's image,
 * pulling with that identity, runs through the trusted-services bypass (its events and log on the
 * page). Unticking "Allow trusted Microsoft services to access this container registry" and
 * saving makes the next group's create fail with ACI's words, and the Access log says why;
 * ticking it again lets a group in. The Machine learning page submits a job whose image the
 * workspace's identity pulls, and shows its status and log.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sandboxAvailable } from '../../src/runtime/index.js';
import { Platform, pushBusyboxImage } from '../services/support.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';
import {
  chromiumAvailable,
  openBlade,
  openPortalAsOwner,
  unnamedControls,
  unreachableByKeyboard,
  type PortalBrowser,
} from './browser.js';

const bubblewrap = await sandboxAvailable();
if (!bubblewrap) {
  if (process.env.CI === 'true') throw new Error('bubblewrap is required in CI (.ci/run)');
  console.warn('SKIPPING the portal services suite: bubblewrap (/usr/bin/bwrap) is not installed');
}
const available = chromiumAvailable() && bubblewrap;
const REGISTRY = 'myregistry';
const IMAGE = 'myregistry.azurecr.localhost/hello:v1';
const ACI = 'api-version=2023-05-01';
const TRUSTED_CHECKBOX = 'Allow trusted Microsoft services to access this container registry';

describe.skipIf(!available)('portal: trusted services (container instances, ML jobs)', () => {
  let server: RunningServer;
  let platform: Platform;
  let browser: PortalBrowser;
  let puller: { id: string; principalId: string };
  let groups: string;

  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    platform = new Platform(server);
    groups = `${platform.group}/providers/Microsoft.ContainerInstance/containerGroups`;
    await pushBusyboxImage(platform.data(REGISTRY), 'hello', 'v1', {
      Cmd: ['/bin/sh', '-c', 'echo "hello from the image"'],
      Env: ['PATH=/bin'],
    });
    // A user-assigned identity: it exists (with its principal) before any group uses it.
    const identityId = `${platform.group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/portal-puller`;
    const created = await platform.arm.arm('PUT', `${identityId}?api-version=2023-01-31`, {
      location: 'local',
    });
    expect(created.status, created.text).toBe(201);
    puller = {
      id: identityId,
      principalId: (created.body as { properties: { principalId: string } }).properties.principalId,
    };
    // An ML workspace whose system-assigned identity may pull, with an environment of the image.
    const workspace = `${platform.group}/providers/Microsoft.MachineLearningServices/workspaces/portal-ml`;
    const ws = await platform.arm.arm('PUT', `${workspace}?api-version=2024-04-01`, {
      location: 'local',
      identity: { type: 'SystemAssigned' },
    });
    expect(ws.status, ws.text).toBe(201);
    await platform.assign(
      platform.registryId(REGISTRY),
      'AcrPull',
      (ws.body as { identity: { principalId: string } }).identity.principalId,
    );
    const env = await platform.arm.arm(
      'PUT',
      `${workspace}/environments/trainer/versions/1?api-version=2024-04-01`,
      { properties: { image: IMAGE } },
    );
    expect(env.status, env.text).toBe(201);

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

  async function bypassOption(): Promise<string> {
    const response = await platform.arm.arm(
      'GET',
      `${platform.registryId(REGISTRY)}?api-version=2025-11-01`,
    );
    return (response.body as { properties: { networkRuleBypassOptions: string } }).properties
      .networkRuleBypassOptions;
  }

  async function setTrustedServices(allowed: boolean): Promise<void> {
    const { page } = browser;
    await openBlade(page, REGISTRY, 'Networking');
    await page.getByLabel(TRUSTED_CHECKBOX).setChecked(allowed);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    expect(await bypassOption()).toBe(allowed ? 'AzureServices' : 'None');
  }

  /** Fills the Container instances page's create form and presses Create. */
  async function createGroup(name: string, command: string): Promise<void> {
    const { page } = browser;
    await page.getByRole('link', { name: 'Container instances' }).click();
    await page.getByRole('heading', { name: 'Container instances', exact: true }).waitFor();
    await page.getByLabel('Container group name').fill(name);
    await page.getByLabel('Image', { exact: true }).fill(IMAGE);
    await page
      .getByLabel('Pull the image with')
      .selectOption({ label: 'Managed identity portal-puller' });
    await page.getByLabel('Command', { exact: true }).fill(command);
    await page.getByLabel('Restart policy').selectOption('Never');
    await page.getByRole('button', { name: 'Create' }).click();
  }

  /** The group's row once its state is `state` (the page refreshes while it moves). */
  async function groupRow(name: string, state: string) {
    const row = browser.page.getByRole('row').filter({ hasText: IMAGE }).filter({ hasText: name });
    await row.getByRole('cell', { name: state, exact: true }).waitFor();
    return row;
  }

  it('grants a managed identity AcrPull in Access control, and Identity shows who is trusted', async () => {
    const { page } = browser;
    await openBlade(page, REGISTRY, 'Access control (IAM)');
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'AcrPull' });
    await page.getByLabel('Principal object ID').fill(puller.principalId);
    await page.getByRole('button', { name: 'Assign' }).click();
    await page.getByRole('button', { name: `Remove AcrPull from ${puller.principalId}` }).waitFor();
    await browser.screenshot('31-access-control');

    await openBlade(page, REGISTRY, 'Identity');
    const workspace = page.getByRole('row').filter({ hasText: 'portal-ml' });
    await workspace.waitFor();
    expect((await workspace.textContent())?.replace(/\s+/g, ' ')).toMatch(
      /^portal-mlMachine learning workspace[0-9a-f-]{36}AcrPullYes$/,
    );
    const identity = page.getByRole('row').filter({ hasText: 'portal-puller' });
    expect((await identity.textContent())?.replace(/\s+/g, ' ')).toBe(
      `portal-pullerUser-assigned identity${puller.principalId}AcrPullNo`,
    );
    // And turns on the registry's own system-assigned identity.
    await page.getByLabel('Enabled').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    const registry = await platform.arm.arm(
      'GET',
      `${platform.registryId(REGISTRY)}?api-version=2025-11-01`,
    );
    const { identity: system } = registry.body as {
      identity: { type: string; principalId: string };
    };
    expect(system.type).toBe('SystemAssigned');
    await page.getByText(`Principal ID: ${system.principalId}`).waitFor();
    await browser.screenshot('32-identity');
  });

  it('a container group pulls through the bypass; unticked, the next one is refused in words; ticked, allowed', async () => {
    const { page } = browser;
    await openBlade(page, REGISTRY, 'Networking');
    await page.getByLabel('Selected networks').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();

    await createGroup('portal-app', 'echo "hello from the portal"');
    await page.getByRole('status').getByText('Created container group portal-app.').waitFor();
    const row = await groupRow('portal-app', 'Succeeded');
    expect(await row.textContent()).toContain('identity portal-puller');
    await row.getByRole('button', { name: 'portal-app', exact: true }).click();
    const events = page.getByRole('table', { name: 'Events of portal-app' });
    await events.getByText(`Successfully pulled image "${IMAGE}"`).waitFor();
    await page.getByText('Terminated (Completed), exit code 0; restarted 0 times').waitFor();
    await page
      .getByLabel('Log of container portal-app')
      .getByText('hello from the portal')
      .waitFor();
    await browser.screenshot('33-container-group-running');

    await setTrustedServices(false);
    await page.getByText(/^Trusted services get no exception/).waitFor();
    await createGroup('portal-refused', 'true');
    const refused = page.getByRole('alert');
    await refused.waitFor();
    expect(await refused.textContent()).toBe(
      `The image '${IMAGE}' in container group 'portal-refused' is not accessible. Please check the image and registry credential.`,
    );
    // Nothing is left behind.
    expect((await platform.arm.arm('GET', `${groups}/portal-refused?${ACI}`)).status).toBe(404);
    await browser.screenshot('34-container-group-refused');

    // The access log says why.
    await openBlade(page, REGISTRY, 'Access log');
    await page
      .getByText(/trusted services are not allowed/)
      .first()
      .waitFor();
    await page
      .getByText(/network: trusted-service bypass/)
      .first()
      .waitFor();
    await browser.screenshot('35-access-log-trusted');

    await setTrustedServices(true);
    await createGroup('portal-again', 'true');
    await groupRow('portal-again', 'Succeeded');

    // Delete, asked twice.
    await page.getByRole('button', { name: 'Delete container group portal-app' }).click();
    await page.getByRole('button', { name: 'Delete portal-app and stop its containers' }).click();
    await page.getByRole('status').getByText('Deleted container group portal-app.').waitFor();
    expect((await platform.arm.arm('GET', `${groups}/portal-app?${ACI}`)).status).toBe(404);
  });

  it('submits an ML job whose image the workspace identity pulls, and shows its status and log', async () => {
    const { page } = browser;
    await page.getByRole('link', { name: 'Machine learning' }).click();
    await page.getByRole('button', { name: 'portal-ml' }).click();
    await page.getByLabel('Job name').fill('portal-job');
    await page.getByLabel('Environment').fill('azureml:trainer:1');
    await page.getByLabel('Command', { exact: true }).fill('echo "training from the portal"');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('status').getByText('Submitted job portal-job.').waitFor();
    await page.getByRole('heading', { name: 'Job portal-job: Completed, exit code 0' }).waitFor();
    await page.getByLabel('Log of job portal-job').getByText('training from the portal').waitFor();
    const row = page.getByRole('row').filter({ hasText: 'azureml:trainer:1' });
    expect(await row.getByRole('cell').nth(1).textContent()).toBe('Completed');
    await browser.screenshot('36-ml-job');
  });

  it('every control on every page has a name and is reachable with Tab', async () => {
    const { page } = browser;
    // All networks again, so that the Repositories blade shows the registry's contents.
    await platform.setNetwork(REGISTRY, { publicAccess: true });
    const pages: [string, () => Promise<void>][] = [];
    const blades = [
      'Overview',
      'Repositories',
      'Networking',
      'Access log',
      'Access control (IAM)',
      'Identity',
      'Tasks',
    ];
    pages.push([
      'Container registries',
      () =>
        page
          .getByRole('navigation', { name: 'Services' })
          .getByRole('link', { name: 'Container registries' })
          .click(),
    ]);
    for (const blade of blades) pages.push([blade, () => openBlade(page, REGISTRY, blade)]);
    pages.push([
      'Repositories with a repository open',
      async () => {
        await openBlade(page, REGISTRY, 'Repositories');
        await page.getByRole('button', { name: 'hello' }).click();
        await page.getByRole('button', { name: /^Scan sha256:/ }).waitFor();
      },
    ]);
    pages.push([
      'Container instances with a group open',
      async () => {
        await page.getByRole('link', { name: 'Container instances' }).click();
        await page.getByRole('button', { name: 'portal-again', exact: true }).click();
        await page.getByLabel('Log of container portal-again').waitFor();
      },
    ]);
    pages.push([
      'Machine learning with a job open',
      async () => {
        await page.getByRole('link', { name: 'Machine learning' }).click();
        await page.getByRole('button', { name: 'portal-ml' }).click();
        await page.getByRole('button', { name: 'portal-job' }).click();
        await page.getByLabel('Log of job portal-job').waitFor();
      },
    ]);
    const problems: Record<string, { unnamed: string[]; unreachable: string[] }> = {};
    for (const [name, open] of pages) {
      await open();
      // Let the page's reads land before looking at it.
      await page.waitForLoadState('networkidle');
      const unnamed = await unnamedControls(page);
      const unreachable = await unreachableByKeyboard(page);
      if (unnamed.length || unreachable.length) problems[name] = { unnamed, unreachable };
    }
    expect(problems).toEqual({});
  });

  it('the check itself finds a control without a name and one Tab cannot reach', async () => {
    const page = await browser.context.newPage();
    try {
      await page.setContent(
        '<label for="a">Named</label><input id="a"><input placeholder="not a name">' +
          '<button tabindex="-1">Mouse only</button><button>Fine</button>',
      );
      expect(await unnamedControls(page)).toEqual(['<input placeholder="not a name">']);
      expect(await unreachableByKeyboard(page)).toEqual([
        '<button tabindex="-1" data-a11y="2">Mouse only</button>',
      ]);
    } finally {
      await page.close();
    }
  });
});
