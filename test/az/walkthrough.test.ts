/**
 * examples/trusted-services.sh, the README walkthrough, run as a user runs it against a live
 * server (BREAKWATER_DATA of a running `breakwater serve`): login, push with skopeo, public
 * access off and the refusal explained by `acr check-health`, an IP rule that lets this
 * machine back in, and the managed identity granted AcrPull for the trusted-service workflow.
 * The script also starts its own server when none is given; that path runs here too.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandAvailable, describeRun, run, type RunResult } from '../support/clients.js';
import { BUSYBOX_PATH } from '../support/oci-layout.js';
import {
  REPO_ROOT,
  removeDataDir,
  requireClient,
  startServer,
  type RunningServer,
} from '../support/server.js';
import { makeConfigDir } from '../cli/cli.js';

const SCRIPT = join(REPO_ROOT, 'examples', 'trusted-services.sh');
const enabled =
  requireClient('skopeo', await commandAvailable('skopeo')) &&
  requireClient('busybox-static', existsSync(BUSYBOX_PATH));

let server: RunningServer;
let configDir: string;

beforeAll(async () => {
  if (!enabled) return;
  server = await startServer();
  configDir = makeConfigDir();
});

afterAll(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

function walkthrough(env: Record<string, string>): Promise<RunResult> {
  return run('bash', [SCRIPT], {
    env: { ...process.env, ...env },
    cwd: REPO_ROOT,
    timeoutMs: 240_000,
  });
}

/** The text between a `=== title` line and the next one. */
function section(output: string, title: string): string {
  const start = output.indexOf(`=== ${title}`);
  if (start < 0) throw new Error(`no section '${title}' in:\n${output}`);
  const next = output.indexOf('\n=== ', start + 4);
  return output.slice(start, next < 0 ? undefined : next);
}

describe.skipIf(!enabled)('examples/trusted-services.sh', () => {
  it(
    'walks through push, refusal, explanation, IP rule and the task example on a running server',
    { timeout: 240_000 },
    async () => {
      const result = await walkthrough({
        BREAKWATER_DATA: server.dataDir,
        BREAKWATER_CONFIG_DIR: configDir,
      });
      const output = `${result.stdout}${result.stderr}`;
      expect(result.code, `${describeRun(result)}\n--- server ---\n${server.output()}`).toBe(0);
      expect(output).toContain(`=== Using the server running on ${server.dataDir}`);
      expect(output).toContain(`data endpoint:       ${server.host}`);

      const pushed = /^pushed: (sha256:[0-9a-f]{64})$/m.exec(output)?.[1];
      expect(pushed, output).toBeDefined();
      expect(output).toMatch(new RegExp(`^manifest ${pushed}$`, 'm'));

      const restricted = section(output, 'Turning public network access off');
      expect(restricted).toMatch(/^Deny\s+Disabled\s+AzureServices$/m);
      expect(section(output, 'A pull from this machine is now refused')).toContain(
        'refused: invalid status code from registry 403 (Forbidden)',
      );
      const health = section(output, 'acr check-health explains');
      expect(health).toContain('An error occurred: CONNECTIVITY_FORBIDDEN_ERROR');
      expect(health).toContain('Your address as the registry sees it: 127.0.0.1');
      expect(health).toContain('public network access to this registry is disabled');

      expect(section(output, 'Public access on again')).toContain(
        'still refused: no rule matches 127.0.0.1',
      );
      const allowed = section(output, 'acr network-rule add');
      expect(allowed).toMatch(/^127\.0\.0\.1$/m);
      expect(allowed).toContain(`allowed: ${pushed}`);
      expect(allowed).toContain(
        "Fetch access token for registry 'myregistry.azurecr.localhost' : OK",
      );
      const identity = section(output, 'A managed identity');
      expect(identity).toMatch(
        /^[0-9a-f-]{36}\s+AcrPull\s+\/subscriptions\/.*\/registries\/myregistry$/m,
      );
      const created = section(output, 'A task with a system-assigned identity');
      expect(created).toMatch(/^task identity: [0-9a-f-]{36}$/m);
      expect(created).toMatch(/^Disabled\s+AzureServices$/m);
      const allowedRun = section(output, 'Run with trusted services allowed');
      expect(allowedRun).toContain('Successfully logged into myregistry.azurecr.localhost');
      expect(allowedRun).toMatch(/Run ID: ca\d+ was successful/);
      const refusedRun = section(output, 'Trusted services disallowed');
      expect(refusedRun).toMatch(/^None$/m);
      expect(refusedRun).toMatch(/403 DENIED/);
      expect(section(output, 'Trusted services allowed again')).toMatch(
        /Run ID: ca\d+ was successful/,
      );
      expect(output).toContain('=== Done');
    },
  );

  it('is repeatable on the same server', { timeout: 240_000 }, async () => {
    const result = await walkthrough({
      BREAKWATER_DATA: server.dataDir,
      BREAKWATER_CONFIG_DIR: configDir,
    });
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toContain('=== Done');
  });

  it('starts and stops its own server when none is running', { timeout: 240_000 }, async () => {
    const result = await walkthrough({ BREAKWATER_DATA: '', BREAKWATER_CONFIG_DIR: '' });
    expect(result.code, describeRun(result)).toBe(0);
    const dataDir = /^=== Starting breakwater serve on (\S+) \(free ports\)$/m.exec(
      result.stdout,
    )?.[1];
    expect(dataDir).toBeDefined();
    expect(result.stdout).toContain('=== Done');
    // Its temporary directory (the server's data and the CLI profile) is cleaned up.
    expect(existsSync(dataDir!)).toBe(false);
  });
});
