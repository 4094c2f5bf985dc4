/**
 * `breakwater cloud register-command`: the az cloud registration for a live server, from the
 * login profile or from --management-url, as shell lines (default) or structured (-o json).
 * The real az runs these lines in test/az/az.test.ts.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';
import { cli, makeConfigDir } from '../cli/cli.js';

let server: RunningServer;
let configDir: string;
let env: Record<string, string>;
const run = (...args: string[]) => cli(args, env);

beforeAll(async () => {
  server = await startServer();
  configDir = makeConfigDir();
  env = { BREAKWATER_CONFIG_DIR: configDir, BREAKWATER_DATA: server.dataDir };
});

afterAll(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

describe('cloud register-command', () => {
  it('needs a login or --management-url', () => {
    const result = run('cloud', 'register-command');
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      "ERROR: No server known: run 'breakwater login' first, or pass --management-url URL (and --ca-file CA).\n",
    );
    expect(result.stdout).toBe('');
  });

  it('prints the az lines for the logged-in server, ADFS authority and CA bundle included', () => {
    expect(run('login').status).toBe(0);
    const result = run('cloud', 'register-command');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const mgmt = server.managementUrl.replace(/\/$/, '');
    expect(mgmt).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(result.stdout).toBe(
      [
        `export REQUESTS_CA_BUNDLE=${server.caPath}`,
        `az cloud register --name Breakwater --endpoint-resource-manager ${mgmt}/ --endpoint-active-directory ${mgmt}/adfs --endpoint-active-directory-resource-id https://management.local/ --endpoint-active-directory-graph-resource-id ${mgmt}/ --suffix-acr-login-server-endpoint .azurecr.localhost`,
        `az cloud update --name Breakwater --cloud-config '{"endpoints":{"microsoftGraphResourceId":"${mgmt}/"}}'`,
        'az cloud set --name Breakwater',
        '',
      ].join('\n'),
    );
  });

  it('takes --management-url, --ca-file and --name, and quotes for the shell', () => {
    const result = run(
      'cloud',
      'register-command',
      '--management-url',
      'https://registry.example:8443/',
      '--ca-file',
      "/etc/my ca's/ca.crt",
      '--name',
      'Lab',
    );
    expect(result.status).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe(`export REQUESTS_CA_BUNDLE='/etc/my ca'\\''s/ca.crt'`);
    expect(lines[1]).toContain(
      '--name Lab --endpoint-resource-manager https://registry.example:8443/ --endpoint-active-directory https://registry.example:8443/adfs ',
    );
    expect(lines[3]).toBe('az cloud set --name Lab');
  });

  it('gives the structured form with -o json and --query', () => {
    const json = run('cloud', 'register-command', '-o', 'json');
    expect(json.status).toBe(0);
    const registration = json.json<{
      cloudName: string;
      managementUrl: string;
      requestsCaBundle: string;
      commands: string[][];
    }>();
    expect(registration).toMatchObject({
      cloudName: 'Breakwater',
      managementUrl: server.managementUrl.replace(/\/$/, ''),
      requestsCaBundle: server.caPath,
    });
    expect(registration.commands.map((c) => c.slice(0, 3).join(' '))).toEqual([
      'az cloud register',
      'az cloud update',
      'az cloud set',
    ]);
    const tsv = run('cloud', 'register-command', '--query', 'requestsCaBundle', '-o', 'tsv');
    expect(tsv.stdout).toBe(`${server.caPath}\n`);
  });

  it('refuses a management URL az cannot use', () => {
    const result = run('cloud', 'register-command', '--management-url', 'http://127.0.0.1:8443');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^ERROR: argument --management-url: az needs HTTPS/);
  });
});
