/**
 * @module services/image-pull
 * How the services that run images (container instances, ML jobs, web apps) get them: an image
 * reference read as Docker reads it (`image-name.ts`), a registry client for its host (a platform
 * registry through the data endpoint, anything else at its own address), the image resolved to linux/amd64 with its
 * config, and its layers unpacked in order into a root filesystem, every blob verified.
 */
import type { Readable } from 'node:stream';
import { applyLayer } from '../runtime/index.js';
import type { ServiceEnvironment } from './environment.js';
import { parseImageName } from './image-name.js';
import {
  RegistryClientError,
  type RegistryClient,
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
  constructor(private readonly environment: ServiceEnvironment) {}

  /** Resolves `image` (manifest and config, verified) with `credential`. */
  async resolve(image: string, credential: RegistryCredential): Promise<PulledImage> {
    const { registry, repository, reference } = parseImageName(image);
    // A platform registry through the data endpoint; any other at its own address.
    const client = await this.environment.clientForAny(registry, credential);
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
