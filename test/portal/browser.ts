/**
 * @module test/portal/browser
 * Debian's headless Chromium driven by playwright-core, with a fresh profile per run that trusts
 * the server's own CA as a user would (an NSS database in a throwaway HOME, made by `certutil`
 * from libnss3-tools), and the portal steps every scenario shares (sign in, open a registry
 * blade). Screenshots go to `test-artifacts/portal/` (README: "Portal"), which CI keeps as
 * artifacts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT, requireClient } from '../support/server.js';

export const CHROMIUM = '/usr/bin/chromium';
const CERTUTIL = '/usr/bin/certutil';
export const SCREENSHOTS = join(REPO_ROOT, 'test-artifacts', 'portal');

/** True when Chromium is installed; off CI a missing one skips loudly, on CI it fails. */
export function chromiumAvailable(): boolean {
  return (
    requireClient('chromium', existsSync(CHROMIUM)) &&
    requireClient('libnss3-tools (certutil)', existsSync(CERTUTIL))
  );
}

/**
 * A HOME whose NSS database (`~/.pki/nssdb`, where Chromium on Linux keeps the certificates a
 * user trusts) holds `caPath` as a trusted CA for TLS servers.
 */
function homeTrusting(caPath: string): string {
  const home = mkdtempSync(join(tmpdir(), 'breakwater-chromium-home-'));
  const nssdb = `sql:${join(home, '.pki', 'nssdb')}`;
  mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
  execFileSync(CERTUTIL, ['-d', nssdb, '-N', '--empty-password'], { stdio: 'pipe' });
  execFileSync(CERTUTIL, ['-d', nssdb, '-A', '-t', 'C,,', '-n', 'breakwater-ca', '-i', caPath], {
    stdio: 'pipe',
  });
  return home;
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

/** Chromium that trusts the CA at `caPath` (the server's `<data>/tls/ca.crt`) and nothing else new. */
export async function openBrowser(caPath: string): Promise<PortalBrowser> {
  const home = homeTrusting(caPath);
  const profile = join(home, 'profile');
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
    env: { ...process.env, HOME: home },
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
      rmSync(home, { recursive: true, force: true });
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
