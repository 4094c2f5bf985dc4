/**
 * Every route the matrix attacks, with what each needs by the rules: the data plane (generated
 * from the route table's ROUTE_METHODS, so a new route or method fails the matrix until it is
 * covered here), the `/acr/v1/` metadata API and the three token endpoints. Destructive routes
 * aim at things that do not exist, so an allowed case changes nothing the next case sees.
 */
import { ROUTE_METHODS, type RouteName } from '../../src/registry/routes.js';
import type { Need, Surface } from './oracle.js';
import { GHOST, REPOSITORY } from './world.js';

export interface AttackRoute {
  surface: Surface;
  label: string;
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  need: Need;
  payload?: string | Buffer;
  contentType?: string;
  /** Reads content of registry A's image: through another registry's door it must never be 2xx. */
  readsTarget?: boolean;
}

const ZERO = `sha256:${'0'.repeat(64)}`;
const UPLOAD = '11111111-2222-4333-8444-555555555555';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export function attackRoutes(manifest: {
  bytes: Buffer;
  digest: string;
  config: string;
}): AttackRoute[] {
  const pull = (repository = REPOSITORY): Need => ({
    kind: 'repository',
    repository,
    action: 'pull',
  });
  const push = (repository = REPOSITORY): Need => ({
    kind: 'repository',
    repository,
    action: 'push',
  });
  const del = (repository = GHOST): Need => ({ kind: 'repository', repository, action: 'delete' });
  const base = `/v2/${REPOSITORY}`;
  const data: Record<
    RouteName,
    Partial<Record<string, Omit<AttackRoute, 'surface' | 'method'>>>
  > = {
    base: {
      GET: { label: '/v2/', url: '/v2/', need: { kind: 'authenticated' } },
      HEAD: { label: '/v2/', url: '/v2/', need: { kind: 'authenticated' } },
    },
    catalog: { GET: { label: '/v2/_catalog', url: '/v2/_catalog', need: { kind: 'catalog' } } },
    tags: {
      GET: { label: 'tags/list', url: `${base}/tags/list`, need: pull(), readsTarget: true },
    },
    manifest: {
      GET: { label: 'manifest', url: `${base}/manifests/v1`, need: pull(), readsTarget: true },
      HEAD: { label: 'manifest', url: `${base}/manifests/v1`, need: pull(), readsTarget: true },
      PUT: {
        label: 'manifest',
        url: `${base}/manifests/v1`,
        need: { kind: 'repository', repository: REPOSITORY, action: 'push', writesManifest: true },
        payload: manifest.bytes,
        contentType: OCI_MANIFEST,
      },
      DELETE: { label: 'manifest', url: `/v2/${GHOST}/manifests/${ZERO}`, need: del() },
    },
    blob: {
      GET: {
        label: 'blob',
        url: `${base}/blobs/${manifest.config}`,
        need: pull(),
        readsTarget: true,
      },
      HEAD: {
        label: 'blob',
        url: `${base}/blobs/${manifest.config}`,
        need: pull(),
        readsTarget: true,
      },
      DELETE: { label: 'blob', url: `/v2/${GHOST}/blobs/${ZERO}`, need: del() },
    },
    'upload-start': {
      POST: { label: 'blobs/uploads/', url: `${base}/blobs/uploads/`, need: push() },
    },
    upload: {
      GET: { label: 'upload', url: `${base}/blobs/uploads/${UPLOAD}`, need: push() },
      PATCH: {
        label: 'upload',
        url: `${base}/blobs/uploads/${UPLOAD}`,
        need: push(),
        payload: 'chunk',
        contentType: 'application/octet-stream',
      },
      PUT: {
        label: 'upload',
        url: `${base}/blobs/uploads/${UPLOAD}?digest=${ZERO}`,
        need: push(),
      },
      DELETE: { label: 'upload', url: `${base}/blobs/uploads/${UPLOAD}`, need: push() },
    },
    referrers: {
      GET: {
        label: 'referrers',
        url: `${base}/referrers/${manifest.digest}`,
        need: pull(),
      },
    },
  };

  const routes: AttackRoute[] = [];
  for (const [name, methods] of Object.entries(ROUTE_METHODS) as [RouteName, readonly string[]][]) {
    for (const method of methods) {
      const route = data[name][method];
      if (!route) throw new Error(`the matrix does not cover ${method} on the ${name} route`);
      routes.push({ surface: 'data', method: method as AttackRoute['method'], ...route });
    }
  }

  const acr = (
    method: AttackRoute['method'],
    path: string,
    need: Need,
    extra: Partial<AttackRoute> = {},
  ): AttackRoute => ({
    surface: 'data',
    method,
    label: `/acr/v1/${path.replace(REPOSITORY, '<repo>').replace(GHOST, '<repo>').split('?')[0]}`,
    url: `/acr/v1/${path}`,
    need,
    ...(method === 'PATCH' ? { payload: '{}', contentType: 'application/json' } : {}),
    ...extra,
  });
  const meta = (
    action: 'metadata_read' | 'metadata_write' | 'deleted_read' | 'deleted_restore',
    repository = REPOSITORY,
  ): Need => ({
    kind: 'repository',
    repository,
    action,
  });
  routes.push(
    acr('GET', '_catalog', { kind: 'catalog' }),
    acr('GET', `_checkaccess?repository=${REPOSITORY}&action=pull`, { kind: 'authenticated' }),
    acr('GET', REPOSITORY, meta('metadata_read'), { readsTarget: true }),
    acr('PATCH', REPOSITORY, meta('metadata_write')),
    acr('DELETE', GHOST, del()),
    acr('GET', `${REPOSITORY}/_tags`, meta('metadata_read'), { readsTarget: true }),
    acr('GET', `${REPOSITORY}/_tags/v1`, meta('metadata_read'), { readsTarget: true }),
    acr('PATCH', `${REPOSITORY}/_tags/v1`, meta('metadata_write')),
    acr('DELETE', `${GHOST}/_tags/v1`, del()),
    acr('GET', `${REPOSITORY}/_manifests`, meta('metadata_read'), { readsTarget: true }),
    acr('GET', `${REPOSITORY}/_manifests/${manifest.digest}`, meta('metadata_read'), {
      readsTarget: true,
    }),
    acr('PATCH', `${REPOSITORY}/_manifests/${manifest.digest}`, meta('metadata_write')),
    acr('DELETE', `${GHOST}/_manifests/${ZERO}`, del()),
    // Soft delete (softDeletePolicy).
    acr('GET', '_deleted/_catalog', { kind: 'catalog' }),
    // (Answered from the door's own registry: through B's door B's deleted lists, never A's.)
    acr('GET', `_deleted/${REPOSITORY}/_manifests`, meta('deleted_read')),
    acr('GET', `_deleted/${REPOSITORY}/_tags`, meta('deleted_read')),
    acr(
      'POST',
      `_deleted/${GHOST}/_manifests/${ZERO}?force=False`,
      meta('deleted_restore', GHOST),
      {
        payload: '{"tag": "v1"}',
        contentType: 'application/json',
      },
    ),
  );

  const tokenNeed = pull();
  routes.push(
    {
      surface: 'token-get',
      label: '/oauth2/token',
      method: 'GET',
      url: '/oauth2/token',
      need: tokenNeed,
    },
    {
      surface: 'token-post',
      label: '/oauth2/token',
      method: 'POST',
      url: '/oauth2/token',
      need: tokenNeed,
    },
    {
      surface: 'exchange',
      label: '/oauth2/exchange',
      method: 'POST',
      url: '/oauth2/exchange',
      need: { kind: 'authenticated' },
    },
  );
  return routes;
}
