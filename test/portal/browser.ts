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
import { REPO_ROOT, requireClient, type RunningServer } from '../support/server.js';

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

/** A browser trusting `server`'s CA, signed in to its portal as the bootstrap owner. */
export async function openPortalAsOwner(
  server: Pick<RunningServer, 'caPath' | 'managementUrl' | 'owner'>,
): Promise<PortalBrowser> {
  const browser = await openBrowser(server.caPath);
  await signIn(
    browser.page,
    server.managementUrl,
    server.owner.clientId,
    server.owner.clientSecret,
  );
  return browser;
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

/**
 * An axe-like check written for the portal's own markup (no DOM types here: the scripts are
 * strings run in the page). Every control (input, select, textarea, button, link, anything
 * focusable) must have an accessible name from aria-label, aria-labelledby, a <label>, its text
 * or a title; a placeholder is not a name. Returns the controls that have none.
 */
export async function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const text = (el) => (el.textContent || '').replace(/\\s+/g, ' ').trim();
    const nameOf = (el) => {
      const label = (el.getAttribute('aria-label') || '').trim();
      if (label) return label;
      const by = el.getAttribute('aria-labelledby');
      if (by) {
        const named = by.split(/\\s+/).map((id) => document.getElementById(id)).filter(Boolean);
        const joined = named.map(text).join(' ').trim();
        if (joined) return joined;
      }
      const labels = Array.from(el.labels || []).map(text).join(' ').trim();
      if (labels) return labels;
      if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) && text(el)) return text(el);
      return (el.getAttribute('title') || '').trim();
    };
    const controls = document.querySelectorAll(
      'input:not([type=hidden]), select, textarea, button, a[href], [tabindex]:not([tabindex="-1"])',
    );
    return Array.from(controls).filter((el) => !nameOf(el)).map((el) => el.outerHTML.slice(0, 160));
  })()`);
}

/**
 * Presses Tab through the whole page and returns the enabled, visible controls that never got
 * the focus. A radio group counts once (Tab enters it, arrow keys move inside it).
 */
export async function unreachableByKeyboard(page: Page): Promise<string[]> {
  const keyOf = `(el) => el.type === 'radio' ? 'radio:' + el.name : el.getAttribute('data-a11y')`;
  const count = await page.evaluate<number>(`(() => {
    const controls = Array.from(document.querySelectorAll(
      'input:not([type=hidden]), select, textarea, button, a[href]',
    )).filter((el) => !el.disabled && el.getClientRects().length > 0);
    controls.forEach((el, i) => el.setAttribute('data-a11y', String(i)));
    window.__reached = new Set();
    window.__onFocus = (event) => window.__reached.add((${keyOf})(event.target));
    document.addEventListener('focusin', window.__onFocus);
    if (document.activeElement) document.activeElement.blur();
    return controls.length;
  })()`);
  // Twice round: wherever Tab starts, every control comes by once.
  for (let press = 0; press < count * 2 + 4; press += 1) await page.keyboard.press('Tab');
  return page.evaluate<string[]>(`(() => {
    document.removeEventListener('focusin', window.__onFocus);
    const missed = Array.from(document.querySelectorAll('[data-a11y]'))
      .filter((el) => !window.__reached.has((${keyOf})(el)))
      .map((el) => el.outerHTML.slice(0, 160));
    document.querySelectorAll('[data-a11y]').forEach((el) => el.removeAttribute('data-a11y'));
    return missed;
  })()`);
}
