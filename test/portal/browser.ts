/**
 * @module test/portal/browser
 * Debian's headless Chromium driven by playwright-core, with a fresh profile per run, and the
 * portal steps every scenario shares (sign in, open a registry blade). Screenshots go to
 * `test-artifacts/portal/` (README: "Portal"), which CI keeps as artifacts.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT, requireClient } from '../support/server.js';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO_ROOT, 'test-artifacts', 'portal');

/** True when Chromium is installed; off CI a missing one skips loudly, on CI it fails. */
export function chromiumAvailable(): boolean {
  return requireClient('chromium', existsSync(CHROMIUM));
}

export interface PortalBrowser {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and Content-Security-Policy violations seen so far. */
  problems: string[];
  /** Saves `test-artifacts/portal/<name>.png` (full page). */
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<PortalBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'breakwater-chromium-'));
  mkdirSync(SCREENSHOTS, { recursive: true });
  // launchPersistentContext is how Playwright takes a user data dir (a fresh one per run).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    // The management listener's certificate comes from the server's own fresh CA, which this
    // throwaway profile has no way to trust; the address is a loopback one the test started.
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) problems.push(message.text());
  });
  return {
    context,
    page,
    problems,
    async screenshot(name) {
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in at `<managementUrl>/` (which redirects to the portal) as a service principal. */
export async function signIn(
  page: Page,
  managementUrl: string,
  clientId: string,
  clientSecret: string,
): Promise<void> {
  await page.goto(`${managementUrl}/`);
  await page.getByLabel('Client ID').fill(clientId);
  await page.getByLabel('Client secret').fill(clientSecret);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Container registries' }).waitFor();
}

/** From the registries list to one registry's blade, by the links a user clicks. */
export async function openBlade(page: Page, registry: string, blade: string): Promise<void> {
  await page.goto(page.url().replace(/#.*$/, '#/registries'));
  await page.getByRole('link', { name: registry, exact: true }).click();
  await page.getByRole('link', { name: blade, exact: true }).click();
  await page.getByRole('heading', { name: blade, exact: true }).waitFor();
}

/** Presses Tab until the button named `name` has the focus: proof it is reachable by keyboard. */
export async function tabTo(page: Page, name: string): Promise<void> {
  for (let presses = 0; presses < 50; presses += 1) {
    await page.keyboard.press('Tab');
    // A string, because this project's tsconfig has no DOM types; it runs in the page.
    const focused = await page.evaluate<string>(
      "(() => { const e = document.activeElement; return e ? e.tagName + ':' + (e.textContent || '').trim() : ''; })()",
    );
    if (focused === `BUTTON:${name}`) return;
  }
  throw new Error(`the button '${name}' cannot be reached with Tab`);
}
