/**
 * @module services/image-pull
 * How the services that run images (container instances, ML jobs) get them: an image reference
 * read as Docker reads it, a registry client for its host (a platform registry through the data
 * endpoint, anything else at its own address), the image resolved to linux/amd64 with its
 * config, and its layers unpacked in order into a root filesystem, every blob verified.
 */
import type { Readable } from 'node:stream';
import { applyLayer } from '../runtime/index.js';
import type { ServiceEnvironment } from './environment.js';
import { externalEndpoint } from './image-import.js';
import {
  RegistryClient,
  RegistryClientError,
  type RegistryCredential,
  type ResolvedImage,
} from './registry-client.js';

export interface PulledImage {
  image: string;
  client: RegistryClient;
  repository: string;
  resolved: ResolvedImage;
}

/** The run settings of an image's config (`config.config`). */
export interface ImageRunConfig {
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

/** A registry refused (or failed) the pull: its own answer is kept for events and logs. */
export class ImagePullError extends Error {
  override name = 'ImagePullError';
  constructor(
    readonly image: string,
    readonly registryError: RegistryClientError,
  ) {
    super(`image ${image} is not accessible: ${registryError.describe()}`);
  }
}

export class ImagePuller {
  constructor(
    private readonly environment: ServiceEnvironment,
    /** The login server of the platform registry served at `host`, if it is one. */
    private readonly platformRegistry: (host: string) => Promise<string | undefined>,
  ) {}

  /** Resolves `image` (manifest and config, verified) with `credential`. */
  async resolve(image: string, credential: RegistryCredential): Promise<PulledImage> {
    const { host, repository, reference } = parseImage(image);
    const client = await this.clientFor(host, credential);
    try {
      return {
        image,
        client,
        repository,
        resolved: await client.resolveImage(repository, reference),
      };
    } catch (error) {
      if (error instanceof RegistryClientError) throw new ImagePullError(image, error);
      throw error;
    }
  }

  private async clientFor(host: string, credential: RegistryCredential): Promise<RegistryClient> {
    const loginServer = await this.platformRegistry(host);
    if (loginServer) return this.environment.clientFor(loginServer, credential);
    const endpoint = externalEndpoint(host);
    return new RegistryClient({
      endpoint,
      loginServer: new URL(endpoint).host,
      credential,
      ...(this.environment.sourceAddress ? { localAddress: this.environment.sourceAddress } : {}),
    });
  }
}

/** Applies every layer of a pulled image to `root`, in order. */
export async function unpackImage(pulled: PulledImage, root: string): Promise<void> {
  for (const layer of pulled.resolved.layers) {
    const blob: Readable = await pulled.client.openBlob(pulled.repository, layer.digest);
    await applyLayer(root, blob);
  }
}

export function runConfigOf(pulled: PulledImage): ImageRunConfig {
  const config = pulled.resolved.config.config;
  return config && typeof config === 'object' ? (config as ImageRunConfig) : {};
}

/** `host/repo:tag` or `host/repo@digest`; no host means Docker Hub, as Docker reads it. */
export function parseImage(image: string): { host: string; repository: string; reference: string } {
  const slash = image.indexOf('/');
  const first = slash > 0 ? image.slice(0, slash) : '';
  const hasHost = first.includes('.') || first.includes(':') || first === 'localhost';
  const host = hasHost ? first : 'docker.io';
  let rest = hasHost ? image.slice(slash + 1) : image;
  if (!hasHost && !rest.includes('/')) rest = `library/${rest}`;
  const at = rest.indexOf('@');
  if (at >= 0) return { host, repository: rest.slice(0, at), reference: rest.slice(at + 1) };
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/'))
    return { host, repository: rest.slice(0, colon), reference: rest.slice(colon + 1) };
  return { host, repository: rest, reference: 'latest' };
}

/** An image's environment with `overrides` on top, as `KEY=VALUE` lines. */
export function mergeEnvironment(
  image: string[] | undefined,
  overrides: Record<string, string>,
): string[] {
  return [
    ...(image ?? []).filter((e) => !(e.split('=')[0]! in overrides)),
    ...Object.entries(overrides).map(([k, v]) => `${k}=${v}`),
  ];
}
