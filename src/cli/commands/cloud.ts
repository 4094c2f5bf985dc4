/**
 * @module cli/commands/cloud
 * `cloud register-command`: prints the shell lines that teach the real az CLI (Debian
 * azure-cli 2.45) about this server as a custom cloud. The identity service is registered as
 * an ADFS-style authority (`<mgmt>/adfs`), so MSAL skips its hard-coded instance discovery at
 * login.microsoftonline.com; `microsoftGraphResourceId` has no flag in az 2.45 and is set with
 * `az cloud update --cloud-config`; `REQUESTS_CA_BUNDLE` makes every az HTTP client trust the
 * platform's CA. The server comes from the profile `breakwater login` wrote, or
 * `--management-url` (+ `--ca-file`).
 */
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { loadProfile } from '../profile.js';
import { print, type GlobalOptions } from '../output.js';
import { withGlobals } from './common.js';

/** The ARM token audience az asks for (`<value>/.default`); the server accepts it. */
export const ARM_AUDIENCE = 'https://management.local/';
/** Any suffix works (ARM returns the real loginServer), but az acr refuses to run without one. */
export const ACR_SUFFIX = '.azurecr.localhost';
export const DEFAULT_CLOUD_NAME = 'Breakwater';

interface RegisterCommandOptions extends GlobalOptions {
  name: string;
  managementUrl?: string;
  caFile?: string;
}

export interface CloudRegistration {
  cloudName: string;
  managementUrl: string;
  requestsCaBundle: string | null;
  commands: string[][];
}

/** Quotes one word for a POSIX shell (single quotes unless it is plainly safe). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function cloudRegistration(
  managementUrl: string,
  caPath: string | null,
  cloudName = DEFAULT_CLOUD_NAME,
): CloudRegistration {
  let url: URL;
  try {
    url = new URL(managementUrl);
  } catch {
    throw new CliError(`argument --management-url: invalid URL: '${managementUrl}'`);
  }
  if (url.protocol !== 'https:') {
    throw new CliError(
      `argument --management-url: az needs HTTPS for the management endpoint, got '${managementUrl}'`,
    );
  }
  const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  const graph = JSON.stringify({ endpoints: { microsoftGraphResourceId: `${base}/` } });
  return {
    cloudName,
    managementUrl: base,
    requestsCaBundle: caPath,
    commands: [
      [
        'az',
        'cloud',
        'register',
        '--name',
        cloudName,
        '--endpoint-resource-manager',
        `${base}/`,
        '--endpoint-active-directory',
        `${base}/adfs`,
        '--endpoint-active-directory-resource-id',
        ARM_AUDIENCE,
        '--endpoint-active-directory-graph-resource-id',
        `${base}/`,
        '--suffix-acr-login-server-endpoint',
        ACR_SUFFIX,
      ],
      ['az', 'cloud', 'update', '--name', cloudName, '--cloud-config', graph],
      ['az', 'cloud', 'set', '--name', cloudName],
    ],
  };
}

/** The registration as shell lines, ready for `eval "$(breakwater cloud register-command)"`. */
export function registrationScript(registration: CloudRegistration): string {
  const lines: string[] = [];
  if (registration.requestsCaBundle) {
    lines.push(`export REQUESTS_CA_BUNDLE=${shellQuote(registration.requestsCaBundle)}`);
  } else {
    lines.push(
      "# No CA file known: export REQUESTS_CA_BUNDLE=<the server's tls/ca.crt> unless its certificate is publicly trusted.",
    );
  }
  for (const command of registration.commands) lines.push(command.map(shellQuote).join(' '));
  return `${lines.join('\n')}\n`;
}

function registerCommand(options: RegisterCommandOptions): void {
  const profile = options.managementUrl ? undefined : loadProfile();
  const managementUrl = options.managementUrl ?? profile?.managementUrl;
  if (!managementUrl) {
    throw new CliError(
      "No server known: run 'breakwater login' first, or pass --management-url URL (and --ca-file CA).",
    );
  }
  const caPath = options.caFile ?? profile?.caPath ?? null;
  const registration = cloudRegistration(managementUrl, caPath, options.name);
  if (options.output === undefined && options.query === undefined) {
    process.stdout.write(registrationScript(registration));
    return;
  }
  print(registration, options);
}

export function registerCloudCommands(program: Command): void {
  const cloud = program.command('cloud').description('use this server from the real az CLI');
  withGlobals(
    cloud
      .command('register-command')
      .description(
        "print the 'az cloud register/update/set' lines (and REQUESTS_CA_BUNDLE) for this server; -o json for the structured form",
      )
      .option('-n, --name <cloud>', 'az cloud name', DEFAULT_CLOUD_NAME)
      .option('--management-url <url>', 'management endpoint (default: from the login profile)')
      .option('--ca-file <file>', 'PEM CA az must trust (default: from the login profile)'),
  ).action(registerCommand);
}
