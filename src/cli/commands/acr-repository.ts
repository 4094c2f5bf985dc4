/**
 * @module cli/commands/acr-repository
 * `acr repository list|list-deleted|show|show-tags|delete|update` and `acr manifest
 * list-metadata|list-deleted|list-deleted-tags|restore` (soft delete): the data
 * plane's `/acr/v1/` API with a registry access token obtained as `acr login` does (ARM identity
 * token, `/oauth2/exchange`, `/oauth2/token` for the operation's scope), with az's arguments,
 * output shapes and messages.
 */
import { Option, type Command } from 'commander';
import { CliError } from '../errors.js';
import {
  DataPlaneClient,
  dataEndpointFor,
  dataPlaneError,
  errorMessage,
  type HttpResponse,
} from '../management-client.js';
import { print, type GlobalOptions } from '../output.js';
import {
  getRegistry,
  parseBool,
  registryName,
  session,
  withGlobals,
  type Session,
} from './common.js';

interface RegistryOptions extends GlobalOptions {
  name?: string;
  resourceGroup?: string;
}

/** A data-plane session for one registry: its login server and a way to get scoped tokens. */
interface Registry {
  loginServer: string;
  /** The registry's ARM properties (policies, ...). */
  properties: Record<string, unknown>;
  data: DataPlaneClient;
  /** A registry access token for `scope` (cached per scope). */
  token(scope: string): Promise<string>;
}

function refused(loginServer: string, response: HttpResponse): CliError {
  const error = dataPlaneError(response);
  const text = error?.message ?? errorMessage(response);
  return new CliError(
    `Access to registry '${loginServer}' was denied. Response code: ${response.status}. ${text}`,
  );
}

async function openRegistry(s: Session, name: string, resourceGroup?: string): Promise<Registry> {
  const registry = await getRegistry(s, name, resourceGroup);
  const loginServer = String(registry.properties?.loginServer ?? '');
  if (!loginServer) throw new CliError(`Registry '${name}' has no login server.`);
  const data = new DataPlaneClient(dataEndpointFor(s.profile, loginServer, s.client.caPem));
  let refreshToken: string | undefined;
  const tokens = new Map<string, string>();
  return {
    loginServer,
    properties: (registry.properties ?? {}) as Record<string, unknown>,
    data,
    async token(scope: string): Promise<string> {
      const cached = tokens.get(scope);
      if (cached) return cached;
      if (!refreshToken) {
        const exchanged = await data.exchange(await s.client.accessToken(), s.profile.tenantId);
        const body = exchanged.json() as { refresh_token?: string } | undefined;
        if (exchanged.status !== 200 || !body?.refresh_token) throw refused(loginServer, exchanged);
        refreshToken = body.refresh_token;
      }
      const response = await data.token(refreshToken, scope);
      const access = (response.json() as { access_token?: string } | undefined)?.access_token;
      if (response.status !== 200 || !access) throw refused(loginServer, response);
      tokens.set(scope, access);
      return access;
    },
  };
}

/** az's parse_error_message: the registry's message (as `Error: ...`) or the default. */
function requestFailure(response: HttpResponse, fallback: string): CliError {
  const server = dataPlaneError(response)?.message;
  let message = server ? `Error: ${server}` : fallback;
  if (!message.endsWith('.')) message = `${message}.`;
  const correlation = response.headers['x-ms-correlation-request-id'];
  if (typeof correlation === 'string') message = `${message} Correlation ID: ${correlation}.`;
  return new CliError(message);
}

/** One `/acr/v1/` (or `/v2/`) request with a token for `scope`; non-2xx becomes az's error. */
async function call(
  registry: Registry,
  method: string,
  path: string,
  scope: string,
  body?: unknown,
): Promise<unknown> {
  const token = await registry.token(scope);
  const response = await registry.data.request(
    method,
    path,
    {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body !== undefined ? JSON.stringify(body) : undefined,
  );
  if (response.status === 401 || response.status === 403)
    throw refused(registry.loginServer, response);
  if (response.status === 404) throw requestFailure(response, 'The requested data does not exist');
  if (response.status < 200 || response.status >= 300) {
    throw requestFailure(response, 'Could not get the requested data');
  }
  return response.text ? response.json() : undefined;
}

const enc = (repository: string) => repository.split('/').map(encodeURIComponent).join('/');

interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

/** `repo:tag`, `repo@sha256:...`, or a bare `repo` (tag `latest`), as az parses `--image`. */
function parseImage(image: string): ImageRef {
  const at = image.indexOf('@');
  if (at > 0) return { repository: image.slice(0, at), digest: image.slice(at + 1) };
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon > slash) return { repository: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { repository: image, tag: 'latest' };
}

interface RepositoryOptions extends RegistryOptions {
  repository?: string;
  image?: string;
  top?: string;
  orderby?: string;
  detail?: boolean;
  yes?: boolean;
  deleteEnabled?: string;
  writeEnabled?: string;
  readEnabled?: string;
  listEnabled?: string;
}

function exactlyOne(options: RepositoryOptions): void {
  if (Boolean(options.repository) === Boolean(options.image)) {
    throw new CliError('Usage error: --image IMAGE | --repository REPOSITORY');
  }
}

function parseTop(top: string | undefined): number | undefined {
  if (top === undefined) return undefined;
  if (!/^\d+$/.test(top)) throw new CliError(`argument --top: invalid int value: '${top}'`);
  return Number(top);
}

const ORDERBY: Record<string, string> = { time_asc: 'timeasc', time_desc: 'timedesc' };

async function withRegistry(options: RegistryOptions): Promise<Registry> {
  const s = session();
  return openRegistry(s, registryName(options.name), options.resourceGroup);
}

async function listRepositories(options: RepositoryOptions): Promise<void> {
  const top = parseTop(options.top);
  const registry = await withRegistry(options);
  const repositories: string[] = [];
  let last: string | undefined;
  for (;;) {
    const query = new URLSearchParams({ n: '1000', ...(last ? { last } : {}) });
    const page = (await call(
      registry,
      'GET',
      `/acr/v1/_catalog?${query.toString()}`,
      'registry:catalog:*',
    )) as { repositories?: string[] };
    const got = page.repositories ?? [];
    repositories.push(...got);
    if (got.length < 1000 || (top !== undefined && repositories.length >= top)) break;
    last = got.at(-1);
  }
  print(top !== undefined ? repositories.slice(0, top) : repositories, options);
}

async function showTags(options: RepositoryOptions): Promise<void> {
  if (!options.repository) {
    throw new CliError('the following arguments are required: --repository');
  }
  const top = parseTop(options.top);
  const registry = await withRegistry(options);
  const query = new URLSearchParams();
  if (top !== undefined) query.set('n', String(top));
  if (options.orderby) query.set('orderby', ORDERBY[options.orderby]!);
  const result = (await call(
    registry,
    'GET',
    `/acr/v1/${enc(options.repository)}/_tags${query.size ? `?${query.toString()}` : ''}`,
    `repository:${options.repository}:metadata_read`,
  )) as { tags?: { name: string }[] };
  const tags = result.tags ?? [];
  print(options.detail ? tags : tags.map((t) => t.name), options);
}

async function show(options: RepositoryOptions): Promise<void> {
  exactlyOne(options);
  const registry = await withRegistry(options);
  if (options.repository) {
    const repo = options.repository;
    print(
      await call(registry, 'GET', `/acr/v1/${enc(repo)}`, `repository:${repo}:metadata_read`),
      options,
    );
    return;
  }
  const image = parseImage(options.image!);
  const scope = `repository:${image.repository}:metadata_read`;
  if (image.tag) {
    const result = (await call(
      registry,
      'GET',
      `/acr/v1/${enc(image.repository)}/_tags/${encodeURIComponent(image.tag)}`,
      scope,
    )) as { tag?: unknown };
    print(result.tag, options);
  } else {
    const result = (await call(
      registry,
      'GET',
      `/acr/v1/${enc(image.repository)}/_manifests/${encodeURIComponent(image.digest!)}`,
      scope,
    )) as { manifest?: unknown };
    print(result.manifest, options);
  }
}

async function update(options: RepositoryOptions): Promise<void> {
  exactlyOne(options);
  const change: Record<string, boolean> = {};
  const flags = [
    ['deleteEnabled', '--delete-enabled', options.deleteEnabled],
    ['writeEnabled', '--write-enabled', options.writeEnabled],
    ['readEnabled', '--read-enabled', options.readEnabled],
    ['listEnabled', '--list-enabled', options.listEnabled],
  ] as const;
  for (const [key, flag, value] of flags) {
    const parsed = parseBool(flag, value);
    if (parsed !== undefined) change[key] = parsed;
  }
  if (Object.keys(change).length === 0) {
    throw new CliError(
      'Usage error: at least one of --delete-enabled, --write-enabled, --read-enabled, --list-enabled is required.',
    );
  }
  const registry = await withRegistry(options);
  let path: string;
  let repository: string;
  if (options.repository) {
    repository = options.repository;
    path = `/acr/v1/${enc(repository)}`;
  } else {
    const image = parseImage(options.image!);
    repository = image.repository;
    path = image.tag
      ? `/acr/v1/${enc(repository)}/_tags/${encodeURIComponent(image.tag)}`
      : `/acr/v1/${enc(repository)}/_manifests/${encodeURIComponent(image.digest!)}`;
  }
  print(
    await call(registry, 'PATCH', path, `repository:${repository}:metadata_write`, change),
    options,
  );
}

const NO_TTY = 'Unable to prompt for confirmation as no tty available. Use --yes.';

async function remove(options: RepositoryOptions): Promise<void> {
  exactlyOne(options);
  if (!options.yes) throw new CliError(NO_TTY);
  const registry = await withRegistry(options);
  if (options.repository) {
    const repo = options.repository;
    await call(registry, 'DELETE', `/acr/v1/${enc(repo)}`, `repository:${repo}:delete`);
    return;
  }
  // az deletes the manifest an --image names, with every tag that points at it.
  const image = parseImage(options.image!);
  let digest = image.digest;
  if (!digest) {
    const result = (await call(
      registry,
      'GET',
      `/acr/v1/${enc(image.repository)}/_tags/${encodeURIComponent(image.tag!)}`,
      `repository:${image.repository}:metadata_read`,
    )) as { tag?: { digest?: string } };
    digest = result.tag?.digest;
    if (!digest) throw new CliError(`The image '${options.image}' has no manifest.`);
  }
  await call(
    registry,
    'DELETE',
    `/v2/${enc(image.repository)}/manifests/${encodeURIComponent(digest)}`,
    `repository:${image.repository}:delete`,
  );
}

interface ManifestOptions extends GlobalOptions {
  registry?: string;
  name?: string;
  resourceGroup?: string;
  top?: string;
  orderby?: string;
}

async function listMetadata(options: ManifestOptions): Promise<void> {
  if (!options.name) throw new CliError('the following arguments are required: --name/-n');
  const top = parseTop(options.top);
  const s = session();
  const registry = await openRegistry(s, registryName(options.registry), options.resourceGroup);
  const query = new URLSearchParams();
  if (options.orderby) query.set('orderby', ORDERBY[options.orderby]!);
  const result = (await call(
    registry,
    'GET',
    `/acr/v1/${enc(options.name)}/_manifests${query.size ? `?${query.toString()}` : ''}`,
    `repository:${options.name}:metadata_read`,
  )) as { manifests?: unknown[] };
  const manifests = result.manifests ?? [];
  print(top !== undefined ? manifests.slice(0, top) : manifests, options);
}

// Soft delete (softDeletePolicy)

async function listDeletedRepositories(options: RepositoryOptions): Promise<void> {
  const registry = await withRegistry(options);
  const result = (await call(
    registry,
    'GET',
    '/acr/v1/_deleted/_catalog',
    'registry:deleted_catalog:*',
  )) as { repositories?: string[] };
  print(result.repositories ?? [], options);
}

interface DeletedOptions extends ManifestOptions {
  digest?: string;
  force?: boolean;
  yes?: boolean;
}

const DAY_MS = 24 * 3600_000;

/** az adds `expiresAfter`: the deletion time plus the policy's current retention days. */
function withExpiry<T extends { deletedAt: string }>(registry: Registry, items: T[]) {
  const policies = registry.properties.policies as Record<string, unknown> | undefined;
  const policy = policies?.softDeletePolicy as { retentionDays?: number } | undefined;
  if (typeof policy?.retentionDays !== 'number') {
    throw new CliError(
      `Unable to retrieve soft-delete retention day policy for registry ${registry.loginServer}`,
    );
  }
  const days = policy.retentionDays;
  return items.map((item) => ({
    ...item,
    expiresAfter: new Date(Date.parse(item.deletedAt) + days * DAY_MS).toISOString(),
  }));
}

async function openForManifests(options: ManifestOptions): Promise<Registry> {
  if (!options.name) throw new CliError('the following arguments are required: --name/-n');
  return openRegistry(session(), registryName(options.registry), options.resourceGroup);
}

async function listDeleted(options: ManifestOptions): Promise<void> {
  const registry = await openForManifests(options);
  const repository = options.name!;
  const result = (await call(
    registry,
    'GET',
    `/acr/v1/_deleted/${enc(repository)}/_manifests`,
    `repository:${repository}:deleted_read`,
  )) as { manifests?: Array<{ deletedAt: string }> };
  print(withExpiry(registry, result.manifests ?? []), options);
}

/** `repo` or `repo:tag` (never a digest), as az's list-deleted-tags and restore parse `-n`. */
function parseRepositoryAndTag(name: string): { repository: string; tag?: string } {
  if (name.includes('@')) throw new CliError(`The name '${name}' must not contain a digest.`);
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash
    ? { repository: name.slice(0, colon), tag: name.slice(colon + 1) }
    : { repository: name };
}

interface DeletedTag {
  tag: string;
  digest: string;
  deletedAt: string;
}

async function deletedTags(registry: Registry, repository: string): Promise<DeletedTag[]> {
  const result = (await call(
    registry,
    'GET',
    `/acr/v1/_deleted/${enc(repository)}/_tags`,
    `repository:${repository}:deleted_read`,
  )) as { tags?: DeletedTag[] };
  return result.tags ?? [];
}

async function listDeletedTags(options: ManifestOptions): Promise<void> {
  const registry = await openForManifests(options);
  const { repository, tag } = parseRepositoryAndTag(options.name!);
  const tags = (await deletedTags(registry, repository)).filter(
    (t) => tag === undefined || t.tag === tag,
  );
  print(withExpiry(registry, tags), options);
}

async function restore(options: DeletedOptions): Promise<void> {
  const registry = await openForManifests(options);
  const { repository, tag } = parseRepositoryAndTag(options.name!);
  let digest = options.digest;
  if (!digest) {
    // Without --digest: the manifest the tag named when it was last deleted (the list is oldest first).
    const digests = (await deletedTags(registry, repository))
      .filter((t) => t.tag === tag)
      .map((t) => t.digest);
    if (digests.length === 0) throw new CliError(`No deleted manifests found for tag: ${tag}`);
    digest = digests.at(-1)!;
    if (digests.length > 1 && !options.yes) throw new CliError(NO_TTY);
  }
  const force = options.force ? 'True' : 'False';
  const result = await call(
    registry,
    'POST',
    `/acr/v1/_deleted/${enc(repository)}/_manifests/${encodeURIComponent(digest)}?force=${force}`,
    `repository:${repository}:deleted_read,deleted_restore`,
    { tag: tag ?? null },
  );
  print(result, options);
}

function registryOptions(command: Command): Command {
  return command
    .option('-n, --name <name>', "the registry's name (default: configure --defaults acr=)")
    .option('-g, --resource-group <group>', 'resource group (found automatically if omitted)');
}

const boolChoice = (flags: string, description: string) =>
  new Option(flags, description).choices(['true', 'false']);

export function registerAcrRepositoryCommands(acr: Command): void {
  const repository = acr.command('repository').description("manage a registry's repositories");

  withGlobals(
    registryOptions(repository.command('list').description('list repositories')).option(
      '--top <n>',
      'limit the number of items in the results',
    ),
  ).action(listRepositories);

  withGlobals(
    registryOptions(
      repository.command('list-deleted').description('list soft-deleted repositories'),
    ),
  ).action(listDeletedRepositories);

  withGlobals(
    registryOptions(repository.command('show-tags').description('show the tags of a repository'))
      .option('--repository <repository>', 'the name of the repository')
      .option('--top <n>', 'limit the number of items in the results')
      .addOption(
        new Option('--orderby <order>', 'order the items in the results').choices([
          'time_asc',
          'time_desc',
        ]),
      )
      .option('--detail', 'show detailed information'),
  ).action(showTags);

  withGlobals(
    registryOptions(
      repository.command('show').description('get the attributes of a repository or image'),
    )
      .option('--repository <repository>', 'the name of the repository')
      .option('-t, --image <image>', "'repository:tag' or 'repository@digest'"),
  ).action(show);

  withGlobals(
    registryOptions(
      repository.command('update').description('update the attributes of a repository or image'),
    )
      .option('--repository <repository>', 'the name of the repository')
      .option('-t, --image <image>', "'repository:tag' or 'repository@digest'")
      .addOption(boolChoice('--delete-enabled <bool>', 'whether delete is allowed'))
      .addOption(boolChoice('--write-enabled <bool>', 'whether write or delete is allowed'))
      .addOption(boolChoice('--read-enabled <bool>', 'whether read is allowed'))
      .addOption(boolChoice('--list-enabled <bool>', 'whether listing is allowed')),
  ).action(update);

  withGlobals(
    registryOptions(
      repository.command('delete').description('delete a repository or an image (manifest)'),
    )
      .option('--repository <repository>', 'the name of the repository')
      .option('-t, --image <image>', "'repository:tag' or 'repository@digest'")
      .option('-y, --yes', 'do not prompt for confirmation'),
  ).action(remove);

  const manifest = acr.command('manifest').description("manage a registry's manifests");
  withGlobals(
    manifest
      .command('list-metadata')
      .description('list the metadata of the manifests in a repository')
      .option(
        '-r, --registry <registry>',
        "the registry's name (default: configure --defaults acr=)",
      )
      .option('-n, --name <repository>', 'the name of the repository')
      .option('-g, --resource-group <group>', 'resource group (found automatically if omitted)')
      .option('--top <n>', 'limit the number of items in the results')
      .addOption(
        new Option('--orderby <order>', 'order the items in the results').choices([
          'time_asc',
          'time_desc',
        ]),
      ),
  ).action(listMetadata);

  const manifestCommand = (name: string, description: string, nameHelp: string) =>
    manifest
      .command(name)
      .description(description)
      .option(
        '-r, --registry <registry>',
        "the registry's name (default: configure --defaults acr=)",
      )
      .option('-n, --name <name>', nameHelp)
      .option('-g, --resource-group <group>', 'resource group (found automatically if omitted)');
  withGlobals(
    manifestCommand(
      'list-deleted',
      'list the soft-deleted manifests of a repository',
      'the name of the repository',
    ),
  ).action(listDeleted);
  withGlobals(
    manifestCommand(
      'list-deleted-tags',
      'list the soft-deleted tags of a repository',
      "the name of the repository, may include a tag as 'name:tag'",
    ),
  ).action(listDeletedTags);
  withGlobals(
    manifestCommand(
      'restore',
      'restore a soft-deleted manifest and tag',
      "the name of the artifact, may include a tag as 'name:tag'",
    )
      .option('-d, --digest <digest>', "the digest of the manifest, e.g. 'sha256:abc123'")
      .option('-f, --force', 'overwrite the existing tag')
      .option('-y, --yes', 'do not prompt for confirmation'),
  ).action(restore);
}
