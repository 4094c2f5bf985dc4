/**
 * @module cli/commands/acr
 * `breakwater acr ...`: show, list, create, update, delete, network-rule, credential, login,
 * check-health, with az's arguments, semantics, output shapes and messages.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Option, type Command } from 'commander';
import { CliError } from '../errors.js';
import {
  DataPlaneClient,
  REGISTRY_API_VERSION,
  RESOURCES_API_VERSION,
  dataEndpointFor,
  dataPlaneError,
  errorMessage,
  type HttpResponse,
} from '../management-client.js';
import { print, warn, type GlobalOptions } from '../output.js';
import {
  flatten,
  getRegistry,
  parseBool,
  registryId,
  registryName,
  session,
  withGlobals,
  type ArmResource,
  type Session,
} from './common.js';

const NETWORK_RULE_NOT_SUPPORTED =
  'Network rules are only supported for managed registries in Premium SKU.';
const NULL_GUID = '00000000-0000-0000-0000-000000000000';

interface NameOptions extends GlobalOptions {
  name?: string;
  resourceGroup?: string;
}

function nameOption(command: Command): Command {
  return command
    .option('-n, --name <name>', "the registry's name (default: configure --defaults acr=)")
    .option('-g, --resource-group <group>', 'resource group (found automatically if omitted)');
}

/** az's `acr list/show -o table` columns. */
function registryTable(result: unknown): Record<string, unknown>[] {
  const items = (Array.isArray(result) ? result : [result]) as Record<string, unknown>[];
  return items.map((r) => ({
    NAME: r.name,
    'RESOURCE GROUP': r.resourceGroup,
    LOCATION: r.location,
    SKU: (r.sku as { name?: string } | undefined)?.name,
    'LOGIN SERVER': r.loginServer,
    'CREATION DATE': r.creationDate,
    'ADMIN ENABLED': r.adminUserEnabled,
  }));
}

function skuOf(registry: ArmResource): string | undefined {
  return (registry.sku as { name?: string } | undefined)?.name;
}

function ipRulesView(networkRuleSet: unknown): Record<string, unknown> {
  const set = (networkRuleSet ?? {}) as {
    defaultAction?: string;
    ipRules?: { action?: string; value?: string; ipAddressOrRange?: string }[];
    virtualNetworkRules?: unknown[];
  };
  return {
    ...(set.defaultAction !== undefined ? { defaultAction: set.defaultAction } : {}),
    ipRules: (set.ipRules ?? []).map((rule) => ({
      action: rule.action ?? 'Allow',
      ipAddressOrRange: rule.ipAddressOrRange ?? rule.value,
    })),
    virtualNetworkRules: set.virtualNetworkRules ?? [],
  };
}

interface UpdateOptions extends NameOptions {
  allowTrustedServices?: string;
  publicNetworkEnabled?: string;
  defaultAction?: string;
  adminEnabled?: string;
  anonymousPullEnabled?: string;
}

async function update(options: UpdateOptions): Promise<void> {
  const s = session();
  const name = registryName(options.name);
  const id = await registryId(s, name, options.resourceGroup);
  const registry = await s.client.arm<ArmResource>('GET', id, REGISTRY_API_VERSION);
  const properties: Record<string, unknown> = {};
  const trusted = parseBool('--allow-trusted-services', options.allowTrustedServices);
  if (trusted !== undefined)
    properties.networkRuleBypassOptions = trusted ? 'AzureServices' : 'None';
  const admin = parseBool('--admin-enabled', options.adminEnabled);
  if (admin !== undefined) properties.adminUserEnabled = admin;
  const anonymous = parseBool('--anonymous-pull-enabled', options.anonymousPullEnabled);
  if (anonymous !== undefined) properties.anonymousPullEnabled = anonymous;
  if (options.defaultAction !== undefined) {
    properties.networkRuleSet = { defaultAction: options.defaultAction };
  }
  const publicNetwork = parseBool('--public-network-enabled', options.publicNetworkEnabled);
  if (publicNetwork !== undefined) {
    properties.publicNetworkAccess = publicNetwork ? 'Enabled' : 'Disabled';
    if (!publicNetwork) properties.networkRuleSet = { defaultAction: 'Deny' };
  }
  if (properties.networkRuleSet !== undefined) {
    if (skuOf(registry) !== 'Premium') throw new CliError(NETWORK_RULE_NOT_SUPPORTED);
    // Keep the IP rules: az sends the registry's rule set with the new default action.
    const current = registry.properties?.networkRuleSet as { ipRules?: unknown[] } | undefined;
    properties.networkRuleSet = {
      ...(properties.networkRuleSet as object),
      ipRules: current?.ipRules ?? [],
    };
  }
  if (publicNetwork === false) {
    warn(options, 'Disabling the public endpoint overrides all firewall configurations.');
  }
  const updated = await s.client.arm<ArmResource>('PATCH', id, REGISTRY_API_VERSION, {
    properties,
  });
  print(flatten(updated), options, registryTable);
}

interface CreateOptions extends UpdateOptions {
  sku?: string;
  location?: string;
}

async function create(options: CreateOptions): Promise<void> {
  const s = session();
  const name = registryName(options.name);
  if (!options.resourceGroup) {
    throw new CliError('the following arguments are required: --resource-group/-g');
  }
  if (!options.sku) throw new CliError('the following arguments are required: --sku');
  if (options.sku === 'Classic') {
    throw new CliError('Classic SKU is no longer supported. Please select a managed SKU.');
  }
  if (/[A-Z]/.test(name)) throw new CliError('Registry name must use only lowercase.');
  if (name.includes('-')) throw new CliError('Registry name cannot contain dashes.');
  const properties: Record<string, unknown> = {};
  const admin = parseBool('--admin-enabled', options.adminEnabled);
  if (admin !== undefined) properties.adminUserEnabled = admin;
  const trusted = parseBool('--allow-trusted-services', options.allowTrustedServices);
  if (trusted !== undefined)
    properties.networkRuleBypassOptions = trusted ? 'AzureServices' : 'None';
  const publicNetwork = parseBool('--public-network-enabled', options.publicNetworkEnabled);
  if (publicNetwork !== undefined) {
    properties.publicNetworkAccess = publicNetwork ? 'Enabled' : 'Disabled';
  }
  if (options.defaultAction !== undefined) {
    if (options.sku !== 'Premium') throw new CliError(NETWORK_RULE_NOT_SUPPORTED);
    properties.networkRuleSet = { defaultAction: options.defaultAction, ipRules: [] };
  }
  const groupPath = `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${options.resourceGroup}`;
  const location =
    options.location ??
    (await s.client.arm<{ location: string }>('GET', groupPath, RESOURCES_API_VERSION)).location;
  const id = await registryId(s, name, options.resourceGroup);
  const created = await s.client.arm<ArmResource>('PUT', id, REGISTRY_API_VERSION, {
    location,
    sku: { name: options.sku },
    properties,
  });
  print(flatten(created), options, registryTable);
}

async function networkRule(
  action: 'add' | 'remove',
  options: NameOptions & { ipAddress?: string },
): Promise<void> {
  const s = session();
  const name = registryName(options.name);
  if (!options.ipAddress) throw new CliError('the following arguments are required: --ip-address');
  const id = await registryId(s, name, options.resourceGroup);
  const registry = await s.client.arm<ArmResource>('GET', id, REGISTRY_API_VERSION);
  if (skuOf(registry) !== 'Premium') throw new CliError(NETWORK_RULE_NOT_SUPPORTED);
  const set = (registry.properties?.networkRuleSet ?? { defaultAction: 'Allow' }) as {
    defaultAction: string;
    ipRules?: { action?: string; value: string }[];
  };
  const rules = set.ipRules ?? [];
  const ipRules =
    action === 'add'
      ? [...rules, { action: 'Allow', value: options.ipAddress }]
      : rules.filter((rule) => rule.value !== options.ipAddress);
  const updated = await s.client.arm<ArmResource>('PATCH', id, REGISTRY_API_VERSION, {
    properties: { networkRuleSet: { ...set, ipRules } },
  });
  print(
    {
      name: updated.name,
      networkRuleSet: ipRulesView(updated.properties?.networkRuleSet),
      provisioningState: updated.properties?.provisioningState ?? 'Succeeded',
    },
    options,
  );
}

async function credential(
  action: 'show' | 'renew',
  options: NameOptions & { passwordName?: string },
): Promise<void> {
  const s = session();
  const id = await registryId(s, registryName(options.name), options.resourceGroup);
  const result =
    action === 'show'
      ? await s.client.arm('POST', `${id}/listCredentials`, REGISTRY_API_VERSION)
      : await s.client.arm('POST', `${id}/regenerateCredential`, REGISTRY_API_VERSION, {
          name: options.passwordName ?? 'password',
        });
  print(result, options);
}

/** Raised by the token steps: a refusal, with what the data plane said. */
class DataPlaneRefusal extends Error {
  constructor(
    readonly response: HttpResponse,
    readonly step: string,
  ) {
    super(step);
  }
}

interface RegistryTokens {
  loginServer: string;
  data: DataPlaneClient;
  refreshToken: string;
}

async function registryAccess(s: Session, name: string, resourceGroup?: string) {
  const registry = await getRegistry(s, name, resourceGroup);
  const loginServer = String(registry.properties?.loginServer ?? '');
  if (!loginServer) throw new CliError(`Registry '${name}' has no login server.`);
  const data = new DataPlaneClient(dataEndpointFor(s.profile, loginServer, s.client.caPem));
  return { loginServer, data };
}

/** az acr login's flow: ARM audience identity token, then `POST /oauth2/exchange`. */
async function fetchRefreshToken(
  s: Session,
  loginServer: string,
  data: DataPlaneClient,
): Promise<string> {
  const identityToken = await s.client.accessToken();
  const response = await data.exchange(identityToken, s.profile.tenantId);
  const body = response.json() as { refresh_token?: string } | undefined;
  if (response.status !== 200 || !body?.refresh_token) {
    throw new DataPlaneRefusal(response, `Fetch refresh token for registry '${loginServer}'`);
  }
  return body.refresh_token;
}

function refusalMessage(loginServer: string, response: HttpResponse): string {
  const error = dataPlaneError(response);
  const text = error?.message ?? errorMessage(response);
  return `Access to registry '${loginServer}' was denied. Response code: ${response.status}. ${text}`;
}

async function login(options: NameOptions & { exposeToken?: boolean }): Promise<void> {
  const s = session();
  const { loginServer, data } = await registryAccess(
    s,
    registryName(options.name),
    options.resourceGroup,
  );
  // az asks `/v2/` for its challenge first: a network refusal answers there, before any token.
  const challenge = await data.request('GET', '/v2/');
  if (challenge.status === 403) throw new CliError(refusalMessage(loginServer, challenge));
  let tokens: RegistryTokens;
  try {
    tokens = { loginServer, data, refreshToken: await fetchRefreshToken(s, loginServer, data) };
  } catch (error) {
    if (error instanceof DataPlaneRefusal)
      throw new CliError(refusalMessage(loginServer, error.response));
    throw error;
  }
  if (options.exposeToken) {
    warn(
      options,
      "You can perform manual login using the provided access token below, for example: 'docker login loginServer -u 00000000-0000-0000-0000-000000000000 -p accessToken'",
    );
    print({ accessToken: tokens.refreshToken, loginServer }, options);
    return;
  }
  // skopeo and podman read ${XDG_RUNTIME_DIR}/containers/auth.json (or REGISTRY_AUTH_FILE); the
  // entry is for the address they connect to, the data endpoint.
  const authFile =
    process.env.REGISTRY_AUTH_FILE ??
    (process.env.XDG_RUNTIME_DIR
      ? join(process.env.XDG_RUNTIME_DIR, 'containers', 'auth.json')
      : undefined);
  if (!authFile) {
    throw new CliError(
      'Neither REGISTRY_AUTH_FILE nor XDG_RUNTIME_DIR is set: cannot tell where skopeo and podman read credentials. Use --expose-token.',
    );
  }
  let auth: { auths?: Record<string, { auth: string }> } = {};
  try {
    auth = JSON.parse(readFileSync(authFile, 'utf8')) as typeof auth;
  } catch {
    // none yet (or unreadable): start a new file
  }
  auth.auths = {
    ...auth.auths,
    [data.address]: {
      auth: Buffer.from(`${NULL_GUID}:${tokens.refreshToken}`).toString('base64'),
    },
  };
  mkdirSync(dirname(authFile), { recursive: true, mode: 0o700 });
  writeFileSync(authFile, `${JSON.stringify(auth, null, 2)}\n`, { mode: 0o600 });
  process.stdout.write('Login Succeeded\n');
}

interface NetworkDetail {
  sourceAddress?: string;
  advice?: string[];
}

async function checkHealth(
  options: NameOptions & { ignoreErrors?: boolean; yes?: boolean },
): Promise<void> {
  const s = session();
  const name = registryName(options.name);
  const { loginServer, data } = await registryAccess(s, name, options.resourceGroup);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const fail = (title: string, message: string, response?: HttpResponse): void => {
    const lines = [`An error occurred: ${title}`, message];
    const error = response ? dataPlaneError(response) : undefined;
    const detail = (error?.detail ?? undefined) as NetworkDetail | undefined;
    if (error?.message) lines.push(error.message);
    if (detail?.sourceAddress) {
      lines.push(`Your address as the registry sees it: ${detail.sourceAddress}`);
    }
    for (const advice of detail?.advice ?? []) lines.push(advice);
    process.stderr.write(`${lines.join('\n')}\n`);
    if (!options.ignoreErrors) process.exitCode = 1;
  };
  const forbidden = (response: HttpResponse) =>
    fail(
      'CONNECTIVITY_FORBIDDEN_ERROR',
      `Looks like you don't have access to registry '${loginServer}'. To see configured firewall rules, run 'breakwater acr show --query networkRuleSet --name ${name}'.`,
      response,
    );

  const challengeUrl = `${data.baseUrl}/v2/`;
  const challenge = await data.request('GET', '/v2/');
  if (challenge.status === 403) return forbidden(challenge);
  if (challenge.status !== 401 || !challenge.headers['www-authenticate']) {
    return fail(
      'CONNECTIVITY_CHALLENGE_ERROR',
      `Registry '${loginServer}' did not issue a challenge (answered ${challenge.status}).`,
      challenge,
    );
  }
  out(`Challenge endpoint ${challengeUrl} : OK`);

  let refreshToken: string;
  try {
    refreshToken = await fetchRefreshToken(s, loginServer, data);
  } catch (error) {
    if (!(error instanceof DataPlaneRefusal)) throw error;
    if (error.response.status === 403) return forbidden(error.response);
    return fail(
      'CONNECTIVITY_REFRESH_TOKEN_ERROR',
      refusalMessage(loginServer, error.response),
      error.response,
    );
  }
  out(`Fetch refresh token for registry '${loginServer}' : OK`);

  const tokenResponse = await data.token(refreshToken, 'registry:catalog:*');
  const accessToken = (tokenResponse.json() as { access_token?: string } | undefined)?.access_token;
  if (tokenResponse.status !== 200 || !accessToken) {
    if (tokenResponse.status === 403) return forbidden(tokenResponse);
    return fail(
      'CONNECTIVITY_ACCESS_TOKEN_ERROR',
      refusalMessage(loginServer, tokenResponse),
      tokenResponse,
    );
  }
  out(`Fetch access token for registry '${loginServer}' : OK`);

  const check = await data.request('GET', '/acr/v1/_checkaccess', {
    authorization: `Bearer ${accessToken}`,
  });
  if (check.status === 403) return forbidden(check);
  if (check.status !== 200) {
    return fail(
      'CONNECTIVITY_ERROR',
      `Checking access to '${loginServer}' answered ${check.status}.`,
      check,
    );
  }
}

export function registerAcrCommands(program: Command): void {
  const acr = program.command('acr').description('manage container registries');

  withGlobals(nameOption(acr.command('show').description('get the details of a registry'))).action(
    async (options: NameOptions) => {
      const s = session();
      const registry = await getRegistry(s, registryName(options.name), options.resourceGroup);
      print(flatten(registry), options, registryTable);
    },
  );

  withGlobals(
    acr
      .command('list')
      .description('list registries')
      .option('-g, --resource-group <group>', 'resource group'),
  ).action(async (options: NameOptions) => {
    const s = session();
    const scope = `/subscriptions/${s.profile.subscriptionId}${options.resourceGroup ? `/resourceGroups/${options.resourceGroup}` : ''}`;
    const list = await s.client.arm<{ value: ArmResource[] }>(
      'GET',
      `${scope}/providers/Microsoft.ContainerRegistry/registries`,
      REGISTRY_API_VERSION,
    );
    print(list.value.map(flatten), options, registryTable);
  });

  const boolChoice = (flags: string, description: string) =>
    new Option(flags, description).choices(['true', 'false']);
  const networkOptions = (command: Command) =>
    command
      .addOption(
        boolChoice(
          '--allow-trusted-services <bool>',
          'allow trusted services to access network restricted registries',
        ),
      )
      .addOption(boolChoice('--public-network-enabled <bool>', 'allow public network access'))
      .addOption(
        new Option(
          '--default-action <action>',
          'default action when no rule matches (Premium only)',
        ).choices(['Allow', 'Deny']),
      )
      .addOption(boolChoice('--admin-enabled <bool>', 'whether the admin user is enabled'));

  withGlobals(
    networkOptions(nameOption(acr.command('update').description('update a registry'))).addOption(
      boolChoice(
        '--anonymous-pull-enabled <bool>',
        'enable registry-wide pull from unauthenticated clients',
      ),
    ),
  ).action(update);

  withGlobals(
    networkOptions(nameOption(acr.command('create').description('create a registry')))
      .addOption(
        new Option('--sku <sku>', 'the SKU').choices(['Basic', 'Standard', 'Premium', 'Classic']),
      )
      .option('-l, --location <location>', "location (default: the resource group's)"),
  ).action(create);

  withGlobals(
    nameOption(acr.command('delete').description('delete a registry')).option(
      '-y, --yes',
      'do not prompt for confirmation',
    ),
  ).action(async (options: NameOptions & { yes?: boolean }) => {
    if (!options.yes) {
      throw new CliError('Unable to prompt for confirmation as no tty available. Use --yes.');
    }
    const s = session();
    const id = await registryId(s, registryName(options.name), options.resourceGroup);
    await s.client.arm('DELETE', id, REGISTRY_API_VERSION);
  });

  const rules = acr.command('network-rule').description('manage network rules (Premium)');
  for (const action of ['add', 'remove'] as const) {
    withGlobals(
      nameOption(rules.command(action).description(`${action} an IP network rule`)).option(
        '--ip-address <address>',
        'IPv4 address or CIDR range',
      ),
    ).action((options: NameOptions & { ipAddress?: string }) => networkRule(action, options));
  }
  withGlobals(nameOption(rules.command('list').description('list network rules'))).action(
    async (options: NameOptions) => {
      const s = session();
      const registry = await getRegistry(s, registryName(options.name), options.resourceGroup);
      if (skuOf(registry) !== 'Premium') throw new CliError(NETWORK_RULE_NOT_SUPPORTED);
      const { defaultAction: _omit, ...view } = ipRulesView(registry.properties?.networkRuleSet);
      print(view, options);
    },
  );

  const cred = acr.command('credential').description('manage the admin user credentials');
  for (const action of ['show', 'renew'] as const) {
    const command = nameOption(
      cred
        .command(action)
        .description(
          action === 'show' ? 'get the admin credentials' : 'regenerate an admin password',
        ),
    );
    if (action === 'renew') {
      command.addOption(
        new Option('--password-name <name>', 'the password to regenerate')
          .choices(['password', 'password2'])
          .makeOptionMandatory(),
      );
    }
    withGlobals(command).action((options: NameOptions & { passwordName?: string }) =>
      credential(action, options),
    );
  }

  withGlobals(
    nameOption(
      acr.command('login').description('log in to a registry with the current identity'),
    ).option('-t, --expose-token', 'print the registry refresh token instead of storing it'),
  ).action(login);

  withGlobals(
    nameOption(
      acr.command('check-health').description("check the registry's reachability and tokens"),
    )
      .option('--ignore-errors', 'exit 0 even when a check fails')
      .option('-y, --yes', 'do not prompt'),
  ).action(checkHealth);
}
