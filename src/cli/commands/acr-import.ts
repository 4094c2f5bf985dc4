/**
 * @module cli/commands/acr-import
 * `breakwater acr import`: az's flags and source rules. `--registry` (name, login server or
 * resource id) names the source registry and `--source` is then the image in it; without it,
 * `--source` is `loginserver/repository:tag`. A registry of the subscription is sent by resource
 * id (unless credentials are given), anything else by `registryUri`. The operation is polled
 * with a progress line on stderr; az prints nothing on success, and neither does this.
 */
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { errorMessage, REGISTRY_API_VERSION } from '../management-client.js';
import type { GlobalOptions } from '../output.js';
import {
  registryId,
  registryName,
  session,
  withGlobals,
  type ArmResource,
  type Session,
} from './common.js';

const RESOURCE_ID =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/[^/]+\/[^/]+\/[^/]+/i;
const INVALID_SOURCE_IMAGE =
  "Please specify the source image as '<login server>/<repository>:<tag>' (or '@<digest>'), or name the source registry with --registry.";
const NO_PASSWORD = 'Please provide both --username and --password for the source registry.';

interface ImportOptions extends GlobalOptions {
  name?: string;
  resourceGroup?: string;
  source: string;
  registry?: string;
  username?: string;
  password?: string;
  image?: string[];
  repository?: string[];
  force?: boolean;
  /** commander's `--no-wait`: false when given. */
  wait?: boolean;
}

interface OperationStatus {
  status: string;
  properties?: {
    manifests?: number;
    blobsCopied?: number;
    blobsSkipped?: number;
    bytesCopied?: number;
  };
  error?: { code?: string; message?: string };
}

/** A registry of the subscription by name or login server, as az's lookup does. */
async function findRegistry(
  s: Session,
  nameOrLoginServer: string,
): Promise<ArmResource | undefined> {
  const list = await s.client.arm<{ value: ArmResource[] }>(
    'GET',
    `/subscriptions/${s.profile.subscriptionId}/providers/Microsoft.ContainerRegistry/registries`,
    REGISTRY_API_VERSION,
  );
  const wanted = nameOrLoginServer.toLowerCase();
  return list.value.find(
    (r) =>
      r.name.toLowerCase() === wanted ||
      String(r.properties?.loginServer ?? '').toLowerCase() === wanted,
  );
}

/** ImportImageParameters.source from az's flags. */
async function importSource(s: Session, options: ImportOptions): Promise<Record<string, unknown>> {
  const credentials =
    options.password !== undefined
      ? {
          credentials: {
            ...(options.username ? { username: options.username } : {}),
            password: options.password,
          },
        }
      : {};
  let sourceImage = options.source;
  let named = options.registry;
  if (!named) {
    const slash = sourceImage.indexOf('/');
    if (slash <= 0) throw new CliError(INVALID_SOURCE_IMAGE);
    named = sourceImage.slice(0, slash);
    sourceImage = sourceImage.slice(slash + 1);
    if (!sourceImage) throw new CliError(INVALID_SOURCE_IMAGE);
  }
  if (RESOURCE_ID.test(named)) {
    if (options.password !== undefined) {
      throw new CliError(
        '--username/--password cannot be used with a source registry resource id.',
      );
    }
    return { resourceId: named, sourceImage };
  }
  const registry = await findRegistry(s, named);
  if (registry && options.password === undefined) return { resourceId: registry.id, sourceImage };
  if (registry) {
    return { registryUri: registry.properties?.loginServer, sourceImage, ...credentials };
  }
  if (options.registry && !named.includes('.') && !named.includes(':')) {
    throw new CliError(
      `Registry '${named}' not found. Please specify the source registry by name, login server or resource ID.`,
    );
  }
  return { registryUri: named, sourceImage, ...credentials };
}

function describeProgress(status: OperationStatus): string {
  const p = status.properties ?? {};
  const parts = [`${p.manifests ?? 0} manifest(s)`, `${p.blobsCopied ?? 0} blob(s) copied`];
  if (p.bytesCopied) parts.push(`${p.bytesCopied} bytes`);
  if (p.blobsSkipped) parts.push(`${p.blobsSkipped} already present`);
  return parts.join(', ');
}

async function importImage(options: ImportOptions): Promise<void> {
  const s = session();
  if ((options.username === undefined) !== (options.password === undefined)) {
    throw new CliError(NO_PASSWORD);
  }
  const name = registryName(options.name);
  const target = await registryId(s, name, options.resourceGroup);
  const source = await importSource(s, options);
  const sourceImage = String(source.sourceImage);
  let targetTags = options.image ?? [];
  const untagged = options.repository ?? [];
  if (targetTags.length === 0 && untagged.length === 0) {
    const at = sourceImage.indexOf('@');
    targetTags = [at > 0 ? sourceImage.slice(0, at) : sourceImage];
  }
  const response = await s.client.armRaw('POST', `${target}/importImage`, REGISTRY_API_VERSION, {
    source,
    targetTags,
    untaggedTargetRepositories: untagged,
    mode: options.force ? 'Force' : 'NoForce',
  });
  if (response.status !== 202 && response.status !== 200)
    throw new CliError(errorMessage(response));
  const statusUrl = response.headers['azure-asyncoperation'];
  if (options.wait === false || response.status === 200 || typeof statusUrl !== 'string') return;

  const url = new URL(statusUrl);
  const apiVersion = url.searchParams.get('api-version') ?? REGISTRY_API_VERSION;
  const live = !options.onlyShowErrors && process.stderr.isTTY;
  const quiet = options.onlyShowErrors === true;
  let shown = '';
  for (;;) {
    const polled = await s.client.arm<OperationStatus>('GET', url.pathname, apiVersion);
    const line = `Importing ${sourceImage}: ${describeProgress(polled)}`;
    if (!quiet && line !== shown) {
      process.stderr.write(live ? `\r${line}` : `${line}\n`);
      shown = line;
    }
    if (polled.status === 'Succeeded') break;
    if (polled.status === 'Failed' || polled.status === 'Canceled') {
      if (live) process.stderr.write('\n');
      const error = polled.error ?? {};
      throw new CliError(`(${error.code ?? 'Failed'}) ${error.message ?? 'The import failed.'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (live) process.stderr.write('\n');
}

export function registerAcrImportCommands(acr: Command): void {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  withGlobals(
    acr
      .command('import')
      .description('import an image to a registry from another registry')
      .option(
        '-n, --name <name>',
        "the target registry's name (default: configure --defaults acr=)",
      )
      .option('-g, --resource-group <group>', 'resource group (found automatically if omitted)')
      .requiredOption(
        '--source <image>',
        "the source image: 'loginserver/repository:tag', or 'repository:tag' with --registry",
      )
      .option('-r, --registry <registry>', 'the source registry: name, login server or resource ID')
      .option('-u, --username <username>', 'username for the source registry')
      .option('-p, --password <password>', 'password for the source registry')
      .option('-t, --image <image>', "the target 'repository:tag' (repeatable)", collect)
      .option(
        '--repository <repository>',
        'a target repository for an untagged copy (repeatable)',
        collect,
      )
      .option('--force', 'overwrite existing target tags')
      .option('--no-wait', 'do not wait for the import to finish'),
  ).action(importImage);
}
