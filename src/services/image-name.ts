/**
 * @module services/image-name
 * Docker's image name rules: `[registry/]repository[:tag][@digest]`, where the first component
 * is a registry only if it has a dot or a port or is `localhost`; otherwise the image is on
 * Docker Hub (`docker.io`, `library/` for single names). Services resolve names without a
 * registry against a default (a task's own registry) where ACR does so.
 */
import { isValidRepositoryName, isValidTag } from '../core/reference.js';
import { looksLikeDigest } from '../core/digest.js';

export interface ImageName {
  registry: string;
  repository: string;
  /** A tag, or a digest (`sha256:...`). */
  reference: string;
}

export class ImageNameError extends Error {
  override name = 'ImageNameError';
}

/**
 * Parses `name`. `defaultRegistry` is used when the name has no registry component (Docker
 * would use Docker Hub; ACR tasks use the run's registry for `--image` names).
 */
export function parseImageName(name: string, defaultRegistry = 'docker.io'): ImageName {
  const trimmed = name.trim();
  let rest = trimmed;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!looksLikeDigest(digest)) throw new ImageNameError(`invalid reference format: ${name}`);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const hasRegistry =
    slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = hasRegistry ? first.toLowerCase() : defaultRegistry;
  let path = hasRegistry ? rest.slice(slash + 1) : rest;
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/')) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
  }
  if (registry === 'docker.io' || registry === 'index.docker.io') {
    registry = 'docker.io';
    if (!path.includes('/')) path = `library/${path}`;
  }
  if (!isValidRepositoryName(path) || (tag !== undefined && !isValidTag(tag))) {
    throw new ImageNameError(`invalid reference format: ${name}`);
  }
  return { registry, repository: path, reference: digest ?? tag ?? 'latest' };
}

export function formatImageName(image: ImageName): string {
  const separator = image.reference.includes(':') ? '@' : ':';
  return `${image.registry}/${image.repository}${separator}${image.reference}`;
}
