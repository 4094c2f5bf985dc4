/**
 * @module registry/routes
 * The data plane's route table. Repository names contain slashes, which path-pattern routers
 * cannot express, so `/v2/*` is matched here, from the right, as Distribution's router does.
 * Every route names the methods it serves; anything else is 405 UNSUPPORTED.
 */
import { RegistryError } from '../core/errors.js';
import { assertRepositoryName } from '../core/reference.js';

export type RouteName =
  'base' | 'catalog' | 'tags' | 'manifest' | 'blob' | 'upload-start' | 'upload' | 'referrers';

export const ROUTE_METHODS: Record<RouteName, readonly string[]> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET'],
  tags: ['GET'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD', 'DELETE'],
  'upload-start': ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE'],
  referrers: ['GET'],
};

export interface DataPlaneRoute {
  name: RouteName;
  /** Repository name (validated), for every route but base and catalog. */
  repository?: string;
  /** Tag or digest (manifest), digest (blob, referrers) or upload id (upload), unvalidated. */
  reference?: string;
}

// What follows `<name>/`; the uploads alternative comes first so `blobs/uploads` is no digest.
const ROUTE_SUFFIX =
  /^(?:blobs\/uploads\/?(?<upload>[^/]*)|tags\/list|(?<kind>manifests|blobs|referrers)\/(?<ref>[^/]+))$/;

/** Parses the path of a `/v2/...` request (query string already removed). */
export function matchRoute(path: string): DataPlaneRoute {
  if (path === '/v2' || path === '/v2/') return { name: 'base' };
  if (!path.startsWith('/v2/')) throw new RegistryError('NAME_UNKNOWN', 'not a registry API path');
  const rest = path.slice('/v2/'.length);
  if (rest === '_catalog') return { name: 'catalog' };
  const match = greedyMatch(rest);
  if (!match)
    throw new RegistryError(
      'NAME_INVALID',
      `no registry API route matches '${rest.slice(0, 200)}'`,
    );
  const { name, upload, kind, ref } = match;
  const repository = assertRepositoryName(name);
  if (upload !== undefined) {
    return upload === ''
      ? { name: 'upload-start', repository }
      : { name: 'upload', repository, reference: upload };
  }
  if (kind === undefined) return { name: 'tags', repository };
  const routeName: RouteName =
    kind === 'manifests' ? 'manifest' : kind === 'blobs' ? 'blob' : 'referrers';
  return { name: routeName, repository, reference: safeDecode(ref ?? '') };
}

interface RouteParts {
  name: string;
  upload?: string;
  kind?: string;
  ref?: string;
}

/**
 * A repository may itself contain `manifests` or `blobs` as a path component, so the route is
 * the suffix after the LAST slash at which one matches (the longest repository name).
 */
function greedyMatch(rest: string): RouteParts | undefined {
  let best: RouteParts | undefined;
  for (let slash = rest.indexOf('/'); slash >= 0; slash = rest.indexOf('/', slash + 1)) {
    const groups = ROUTE_SUFFIX.exec(rest.slice(slash + 1))?.groups;
    if (groups) best = { name: rest.slice(0, slash), ...definedGroups(groups) };
  }
  return best;
}

function definedGroups(groups: Record<string, string | undefined>): Omit<RouteParts, 'name'> {
  const result: Omit<RouteParts, 'name'> = {};
  if (groups.upload !== undefined) result.upload = groups.upload;
  if (groups.kind !== undefined) result.kind = groups.kind;
  if (groups.ref !== undefined) result.ref = groups.ref;
  return result;
}

/** Some clients percent-encode the ':' of a digest; a malformed escape is a client error. */
function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new RegistryError('DIGEST_INVALID', `malformed reference '${value.slice(0, 200)}'`);
  }
}
