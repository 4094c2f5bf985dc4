/**
 * @module services/image-import
 * The registry service's own trusted service: import. It copies one image (a manifest, or an
 * index with every child, recursively) with its blobs and referrers from a source registry into
 * repositories of a target registry, as a client of both data planes. Blobs the target
 * repository already has are not sent again. Tags are written last, so a failed import leaves
 * no tag pointing at incomplete content.
 *
 * A source inside the platform and the target are reached through the public data endpoint with
 * the first-party import identity, so the trusted-services bypass decides (exactly as for any
 * other service); an external source (any OCI registry) is reached at its own address with the
 * caller's credentials, or anonymously.
 */
import { isObject } from '../core/json.js';
import type { Descriptor } from '../core/manifest.js';
import { INDEX_TYPES } from '../core/media-types.js';
import type { ServiceEnvironment } from './environment.js';
import {
  RegistryClient,
  RegistryClientError,
  type FetchedManifest,
  type RegistryCredential,
} from './registry-client.js';

/** Where the image comes from. */
export type ImportSource =
  /**
   * A registry of this platform, by its login server, reached through the data endpoint: with
   * the import identity, or with the caller's username and password when given.
   */
  | { kind: 'platform'; loginServer: string; username?: string; password?: string }
  /** Any OCI registry at `registryUri` (`host[:port]`, or with an explicit `http(s)://`). */
  | { kind: 'external'; registryUri: string; username?: string; password?: string };

export interface ImportPlan {
  source: ImportSource;
  /** `repository:tag` or `repository@sha256:...` in the source. */
  sourceImage: string;
  targetLoginServer: string;
  /** `repository:tag` in the target. */
  targetTags: string[];
  /** Repositories that receive the image without a tag. */
  untaggedTargetRepositories: string[];
  /** `Force` overwrites existing target tags; `NoForce` fails before copying anything. */
  mode: 'Force' | 'NoForce';
}

export interface ImportProgress {
  manifests: number;
  blobsCopied: number;
  blobsSkipped: number;
  bytesCopied: number;
}

export interface ImportResult extends ImportProgress {
  digest: string;
  referrers: number;
}

/** Why an import failed, in words the caller can act on; `code` is ARM's error code. */
export class ImportError extends Error {
  override name = 'ImportError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** ACR limits one imported image to this many manifests (an index and its children). */
const MAX_MANIFESTS = 50;

export class ImageImporter {
  constructor(
    private readonly environment: ServiceEnvironment,
    /** A first-party identity token for the registry audience (the import service's own). */
    private readonly importIdentityToken: () => Promise<string>,
  ) {}

  async run(
    plan: ImportPlan,
    onProgress: (progress: ImportProgress) => void = () => {},
  ): Promise<ImportResult> {
    const credential: RegistryCredential = {
      kind: 'identity',
      token: this.importIdentityToken,
    };
    const target = this.environment.clientFor(plan.targetLoginServer, credential);
    const source =
      plan.source.kind === 'platform'
        ? this.environment.clientFor(
            plan.source.loginServer,
            plan.source.password !== undefined
              ? {
                  kind: 'basic',
                  username: plan.source.username ?? '',
                  password: plan.source.password,
                }
              : credential,
          )
        : externalClient(plan.source, this.environment.sourceAddress);
    const { repository: sourceRepository, reference } = splitImage(plan.sourceImage);
    const targets = targetRepositories(plan);

    return withRegistryWords(async () => {
      // Everything the image is made of, read (and verified) before anything is written.
      const manifests = await collect(source, sourceRepository, reference);
      const top = manifests.at(-1)!;
      if (plan.mode === 'NoForce') await refuseExistingTags(target, plan.targetTags, top.digest);

      const progress: ImportProgress = {
        manifests: manifests.length,
        blobsCopied: 0,
        blobsSkipped: 0,
        bytesCopied: 0,
      };
      let referrers = 0;
      for (const repository of targets) {
        await copyContent(source, sourceRepository, target, repository, manifests, progress, () =>
          onProgress({ ...progress }),
        );
        for (const manifest of manifests) {
          referrers += await copyReferrers(
            source,
            sourceRepository,
            target,
            repository,
            manifest.digest,
            progress,
          );
        }
        // The top manifest last: by digest (untagged), or under each of its tags.
        const tags = plan.targetTags
          .map(splitTarget)
          .filter((t) => t.repository === repository)
          .map((t) => t.tag);
        for (const tag of tags.length > 0 ? tags : [top.digest]) {
          await target.putManifest(repository, tag, top.bytes, top.mediaType);
        }
        onProgress({ ...progress });
      }
      return { ...progress, digest: top.digest, referrers };
    }, plan);
  }
}

/** A client for a registry outside the platform, at its own address. */
function externalClient(
  source: Extract<ImportSource, { kind: 'external' }>,
  localAddress: string,
): RegistryClient {
  const endpoint = externalEndpoint(source.registryUri);
  return new RegistryClient({
    endpoint,
    loginServer: new URL(endpoint).host,
    credential:
      source.username !== undefined || source.password !== undefined
        ? { kind: 'basic', username: source.username ?? '', password: source.password ?? '' }
        : { kind: 'anonymous' },
    ...(localAddress ? { localAddress } : {}),
  });
}

/**
 * `registryUri` as an endpoint URL. An explicit scheme is kept; a loopback host gets plain HTTP,
 * as Docker treats 127.0.0.0/8 as an insecure registry by default (a local Distribution); every
 * other registry is HTTPS.
 */
export function externalEndpoint(registryUri: string): string {
  if (/^https?:\/\//i.test(registryUri)) return registryUri.replace(/\/+$/, '');
  const host = registryUri.replace(/\/+$/, '');
  const hostname = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0]!;
  const loopback = hostname === 'localhost' || hostname === '::1' || /^127\./.test(hostname);
  return `${loopback ? 'http' : 'https'}://${host}`;
}

/** `repo:tag` or `repo@digest` -> its parts; a bare repository means `latest`. */
export function splitImage(image: string): { repository: string; reference: string } {
  const at = image.indexOf('@');
  if (at >= 0) return { repository: image.slice(0, at), reference: image.slice(at + 1) };
  const colon = image.lastIndexOf(':');
  if (colon > image.lastIndexOf('/'))
    return { repository: image.slice(0, colon), reference: image.slice(colon + 1) };
  return { repository: image, reference: 'latest' };
}

function splitTarget(target: string): { repository: string; tag: string } {
  const { repository, reference } = splitImage(target);
  return { repository, tag: reference };
}

function targetRepositories(plan: ImportPlan): string[] {
  return [
    ...new Set([
      ...plan.targetTags.map((t) => splitTarget(t).repository),
      ...plan.untaggedTargetRepositories,
    ]),
  ];
}

/** The manifests of an image, children before their index (the top manifest last). */
async function collect(
  source: RegistryClient,
  repository: string,
  reference: string,
): Promise<FetchedManifest[]> {
  const ordered: FetchedManifest[] = [];
  const seen = new Set<string>();
  const visit = async (ref: string): Promise<void> => {
    const manifest = await source.getManifest(repository, ref);
    if (seen.has(manifest.digest)) return;
    seen.add(manifest.digest);
    if (seen.size > MAX_MANIFESTS) {
      throw new ImportError(
        'InvalidParameters',
        `The image has more than ${MAX_MANIFESTS} manifests; import copies at most ${MAX_MANIFESTS} per image.`,
      );
    }
    if (INDEX_TYPES.has(manifest.mediaType)) {
      for (const child of descriptors(manifest.json.manifests)) await visit(child.digest);
    }
    ordered.push(manifest);
  };
  await visit(reference);
  return ordered;
}

async function refuseExistingTags(
  target: RegistryClient,
  targetTags: string[],
  digest: string,
): Promise<void> {
  for (const tagged of targetTags) {
    const { repository, tag } = splitTarget(tagged);
    const existing = await target.headManifest(repository, tag);
    if (existing !== undefined && existing !== digest) {
      throw new ImportError(
        'InvalidParameters',
        `Tag ${repository}:${tag} already exists in the target registry. Use mode Force (--force) to overwrite it.`,
      );
    }
  }
}

/** The blobs of every manifest, then the child manifests by digest (not the top one). */
async function copyContent(
  source: RegistryClient,
  sourceRepository: string,
  target: RegistryClient,
  repository: string,
  manifests: FetchedManifest[],
  progress: ImportProgress,
  report: () => void,
): Promise<void> {
  for (const manifest of manifests) {
    for (const blob of blobsOf(manifest)) {
      const result = await target.pushBlob(repository, blob, () =>
        source.openBlob(sourceRepository, blob.digest),
      );
      if (result === 'uploaded') {
        progress.blobsCopied += 1;
        progress.bytesCopied += blob.size;
      } else {
        progress.blobsSkipped += 1;
      }
      report();
    }
  }
  for (const manifest of manifests.slice(0, -1)) {
    await target.putManifest(repository, manifest.digest, manifest.bytes, manifest.mediaType);
  }
}

/** Copies the referrers of `digest` (signatures, SBOMs...), and theirs; returns how many. */
async function copyReferrers(
  source: RegistryClient,
  sourceRepository: string,
  target: RegistryClient,
  repository: string,
  digest: string,
  progress: ImportProgress,
): Promise<number> {
  let referrers: Descriptor[];
  try {
    referrers = await source.listReferrers(sourceRepository, digest);
  } catch (error) {
    // Registries without the referrers API (Distribution 2.8) answer 404: nothing to copy.
    if (error instanceof RegistryClientError && error.status === 404) return 0;
    throw error;
  }
  let copied = 0;
  for (const referrer of referrers) {
    const manifests = await collect(source, sourceRepository, referrer.digest);
    await copyContent(source, sourceRepository, target, repository, manifests, progress, () => {});
    const top = manifests.at(-1)!;
    await target.putManifest(repository, top.digest, top.bytes, top.mediaType);
    copied +=
      1 + (await copyReferrers(source, sourceRepository, target, repository, top.digest, progress));
  }
  return copied;
}

function blobsOf(manifest: FetchedManifest): Descriptor[] {
  const blobs = descriptors(manifest.json.layers);
  if (isDescriptor(manifest.json.config)) blobs.unshift(manifest.json.config);
  for (const blob of descriptors(manifest.json.blobs)) blobs.push(blob); // artifact manifests
  const seen = new Set<string>();
  return blobs.filter((b) => !seen.has(b.digest) && seen.add(b.digest));
}

function descriptors(value: unknown): Descriptor[] {
  return Array.isArray(value) ? value.filter(isDescriptor) : [];
}

function isDescriptor(value: unknown): value is Descriptor {
  return isObject(value) && typeof value.digest === 'string' && typeof value.size === 'number';
}

/**
 * Turns a registry's refusal into ACR's words for import: who refused (source or target) and
 * what it said, e.g. `Access to src.azurecr.localhost denied. 403 DENIED: ...`.
 */
async function withRegistryWords<T>(work: () => Promise<T>, plan: ImportPlan): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof RegistryClientError)) throw error;
    const side = error.loginServer === plan.targetLoginServer ? 'target' : 'source';
    const said = `${error.status} ${error.code}: ${error.message}`;
    if (error.status === 401 || error.status === 403) {
      throw new ImportError('InvalidParameters', `Access to ${error.loginServer} denied. ${said}`);
    }
    if (side === 'source' && error.status === 404) {
      throw new ImportError(
        'InvalidParameters',
        `The source image ${error.loginServer}/${plan.sourceImage} was not found. ${said}`,
      );
    }
    if (error.status === 0) {
      throw new ImportError(
        'InvalidParameters',
        `Unable to reach the ${side} registry: ${error.message}`,
      );
    }
    throw new ImportError('InvalidParameters', `Error copying from ${error.loginServer}: ${said}`);
  }
}
