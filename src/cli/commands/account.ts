/**
 * @module cli/commands/account
 * `login`, `logout`, `account show` and `configure --defaults`, shaped like az's.
 * `login` without arguments, on the server's machine, uses the bootstrap owner from
 * `<data>/bootstrap.json` and the addresses in `<data>/endpoints.json`.
 */
import { Option, type Command } from 'commander';
import { CliError } from '../errors.js';
import { ManagementClient, RESOURCES_API_VERSION } from '../management-client.js';
import {
  dataDir,
  loadDefaults,
  readBootstrap,
  readEndpoints,
  removeProfile,
  requireProfile,
  saveDefaults,
  saveProfile,
  type Profile,
} from '../profile.js';
import { print, warn, type GlobalOptions } from '../output.js';
import { withGlobals } from './common.js';

interface LoginOptions extends GlobalOptions {
  servicePrincipal?: boolean;
  username?: string;
  password?: string;
  tenant?: string;
  data?: string;
  managementUrl?: string;
  caFile?: string;
}

interface Subscription {
  subscriptionId: string;
  displayName?: string;
  state?: string;
  tenantId?: string;
}

function accountView(profile: Profile, name?: string, state?: string) {
  return {
    environmentName: 'Breakwater',
    id: profile.subscriptionId,
    isDefault: true,
    name: name ?? profile.subscriptionName ?? profile.subscriptionId,
    state: state ?? 'Enabled',
    tenantId: profile.tenantId,
    user: { name: profile.clientId, type: 'servicePrincipal' },
  };
}

async function login(options: LoginOptions): Promise<void> {
  const dir = dataDir(options.data);
  const endpoints = readEndpoints(dir);
  let clientId = options.username;
  let clientSecret = options.password;
  let tenantId = options.tenant;
  let preferredSubscription: string | undefined;
  if (!options.servicePrincipal && !clientId && !clientSecret && !tenantId) {
    const bootstrap = readBootstrap(dir);
    if (!bootstrap) {
      throw new CliError(
        `No bootstrap credentials in ${dir} (bootstrap.json). Run on the server's machine with --data DIR, or use 'breakwater login --service-principal -u APP_ID -p SECRET --tenant TENANT'.`,
      );
    }
    ({ clientId, clientSecret, tenantId } = bootstrap);
    preferredSubscription = bootstrap.subscriptionId;
  } else if (!options.servicePrincipal) {
    throw new CliError(
      'Only service principals can log in: add --service-principal (user accounts are not supported).',
    );
  }
  if (!clientId || !clientSecret || !tenantId) {
    throw new CliError(
      'the following arguments are required: --username/-u, --password/-p, --tenant/-t',
    );
  }
  const managementUrl =
    options.managementUrl ?? process.env.BREAKWATER_MANAGEMENT_URL ?? endpoints?.management;
  if (!managementUrl) {
    throw new CliError(
      `No management endpoint known: pass --management-url URL (no endpoints.json in ${dir}).`,
    );
  }
  const caPath = options.caFile ?? endpoints?.caPath ?? undefined;
  const client = new ManagementClient({ managementUrl, tenantId, clientId, clientSecret, caPath });
  const subscriptions = (
    await client.arm<{ value: Subscription[] }>('GET', '/subscriptions', RESOURCES_API_VERSION)
  ).value;
  if (subscriptions.length === 0) {
    throw new CliError(`No subscriptions found for ${clientId}.`);
  }
  const chosen =
    subscriptions.find((s) => s.subscriptionId === preferredSubscription) ?? subscriptions[0]!;
  const profile: Profile = {
    managementUrl,
    tenantId,
    subscriptionId: chosen.subscriptionId,
    subscriptionName: chosen.displayName,
    clientId,
    clientSecret,
    ...(caPath ? { caPath } : {}),
    ...(endpoints ? { dataEndpoint: endpoints.data, dataTls: endpoints.dataTls } : {}),
  };
  saveProfile(profile);
  print(
    subscriptions.map((s) => ({
      cloudName: 'Breakwater',
      homeTenantId: s.tenantId ?? tenantId,
      id: s.subscriptionId,
      isDefault: s.subscriptionId === chosen.subscriptionId,
      managedByTenants: [],
      name: s.displayName ?? s.subscriptionId,
      state: s.state ?? 'Enabled',
      tenantId: s.tenantId ?? tenantId,
      user: { name: clientId, type: 'servicePrincipal' },
    })),
    options,
  );
}

export function registerAccountCommands(program: Command): void {
  withGlobals(
    program
      .command('login')
      .description('log in with a service principal (no arguments: the local bootstrap owner)')
      .option('--service-principal', 'the credential is a service principal')
      .option('-u, --username <appId>', 'application (client) id')
      .option('-p, --password <secret>', 'client secret')
      .option('-t, --tenant <tenant>', 'tenant id')
      .addOption(new Option('--data <dir>', 'server data directory (env BREAKWATER_DATA)'))
      .option('--management-url <url>', 'management endpoint (default: from endpoints.json)')
      .option('--ca-file <file>', 'PEM CA to trust (default: endpoints.json caPath)'),
  ).action(login);

  withGlobals(program.command('logout').description('log out: forget the stored profile')).action(
    (options: GlobalOptions) => {
      if (!removeProfile()) warn(options, 'There are no active accounts.');
    },
  );

  const account = program.command('account').description('the logged-in account');
  withGlobals(account.command('show').description('show the current subscription')).action(
    async (options: GlobalOptions) => {
      const profile = requireProfile();
      const client = ManagementClient.fromProfile(profile);
      const sub = await client.arm<Subscription>(
        'GET',
        `/subscriptions/${profile.subscriptionId}`,
        RESOURCES_API_VERSION,
      );
      print(accountView(profile, sub.displayName, sub.state), options);
    },
  );

  withGlobals(
    program
      .command('configure')
      .description('set defaults, e.g. --defaults acr=myregistry')
      .option('--defaults <key=value...>', 'space-separated defaults; an empty value clears one'),
  ).action((options: GlobalOptions & { defaults?: string[] }) => {
    const defaults = loadDefaults();
    for (const pair of options.defaults ?? []) {
      const at = pair.indexOf('=');
      if (at <= 0) throw new CliError(`usage error: --defaults expects key=value, got '${pair}'`);
      const key = pair.slice(0, at);
      const value = pair.slice(at + 1);
      if (value) defaults[key] = value;
      else delete defaults[key];
    }
    saveDefaults(defaults);
  });
}
