/**
 * @module registry/soft-delete
 * ACR's soft delete (`policies.softDeletePolicy`, preview): while it is enabled, deleting a
 * manifest, a tag or a repository keeps what went restorable for `retentionDays`; garbage
 * collection keeps their blobs until they expire. The data-plane routes the az CLI calls
 * (`az acr manifest list-deleted|list-deleted-tags|restore`, `az acr repository list-deleted`):
 *
 * - `GET  /acr/v1/_deleted/_catalog`                      (scope `registry:deleted_catalog:*`)
 * - `GET  /acr/v1/_deleted/{repo}/_manifests`              (`repository:{repo}:deleted_read`)
 * - `GET  /acr/v1/_deleted/{repo}/_tags`                   (`repository:{repo}:deleted_read`)
 * - `POST /acr/v1/_deleted/{repo}/_manifests/{digest}?force=` with `{"tag": ...}`
 *                                                          (`repository:{repo}:deleted_restore`)
 *
 * Every request passes the access decision first, like the rest of `/acr/v1/`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessDecider, Requirement } from '../access/index.js';
import { parseDigest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import { assertRepositoryName, isValidTag } from '../core/reference.js';
import type { MetadataStore, RestoreOutcome } from '../metadata/index.js';
import { PUBLIC_DOOR, type Door } from '../network/index.js';
import type { HostResolver } from './host-resolver.js';
import { readBoundedBody } from './http-utils.js';
import { guardRequest } from './request-guard.js';

const DEFAULT_RETENTION_DAYS = 7;

export interface SoftDeletePolicy {
  enabled: boolean;
  /** How long a soft-deleted manifest or tag stays restorable (ACR: 1 to 90, default 7). */
  retentionDays: number;
}

/** The registry's `policies.softDeletePolicy`, with ACR's defaults. */
export function softDeletePolicy(properties: Record<string, unknown>): SoftDeletePolicy {
  const policies = properties.policies as Record<string, unknown> | undefined;
  const policy = policies?.softDeletePolicy as
    { retentionDays?: unknown; status?: unknown } | undefined;
  return {
    enabled: policy?.status === 'enabled',
    retentionDays:
      typeof policy?.retentionDays === 'number' ? policy.retentionDays : DEFAULT_RETENTION_DAYS,
  };
}

type Target =
  | { kind: 'catalog' }
  | { kind: 'manifests'; repository: string }
  | { kind: 'tags'; repository: string }
  | { kind: 'restore'; repository: string; digest: string };

const PREFIX = '/acr/v1/_deleted/';

function parseTarget(path: string): Target {
  const rest = path.slice(PREFIX.length).replace(/\/+$/, '');
  if (rest === '_catalog') return { kind: 'catalog' };
  const match = /^(.+?)\/(_tags|_manifests)(?:\/([^/]+))?$/.exec(rest);
  if (!match) throw new RegistryError('NAME_INVALID', 'invalid repository path');
  const repository = assertRepositoryName(match[1]!);
  const [, , collection, item] = match;
  if (item === undefined) {
    return collection === '_tags'
      ? { kind: 'tags', repository }
      : { kind: 'manifests', repository };
  }
  if (collection !== '_manifests') throw new RegistryError('NAME_INVALID', 'invalid path');
  return { kind: 'restore', repository, digest: parseDigest(decodeURIComponent(item)).value };
}

function requirementFor(target: Target): Requirement {
  if (target.kind === 'catalog') return { kind: 'catalog', deleted: true };
  const action = target.kind === 'restore' ? 'deleted_restore' : 'deleted_read';
  return { kind: 'repository', repository: target.repository, actions: [action] };
}

/** The restore body: `{"tag": "v1"}`, or `{"tag": null}` / `{}` to restore untagged. */
function parseRestoreTag(body: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    throw new RegistryError('UNSUPPORTED', 'the body must be JSON: {"tag": "<tag>"}', {
      status: 400,
    });
  }
  const tag = (parsed as { tag?: unknown } | null)?.tag;
  if (tag === undefined || tag === null) return undefined;
  if (typeof tag !== 'string' || !isValidTag(tag))
    throw new RegistryError('TAG_INVALID', `invalid tag '${String(tag).slice(0, 200)}'`);
  return tag;
}

const RESTORE_ERRORS: Record<Exclude<RestoreOutcome, 'restored'>, () => RegistryError> = {
  'not-found': () =>
    new RegistryError('MANIFEST_UNKNOWN', 'no soft-deleted manifest with that digest'),
  'tag-exists': () =>
    new RegistryError('DENIED', 'the tag names another manifest; restore with force to move it', {
      status: 409,
    }),
  'subject-missing': () =>
    new RegistryError('MANIFEST_UNKNOWN', "restore the referrer's subject manifest first"),
  'children-missing': () =>
    new RegistryError('MANIFEST_UNKNOWN', "restore the index's child manifests first"),
};

export interface SoftDeleteApiOptions {
  door?: Door;
  metadata: MetadataStore;
  hosts: HostResolver;
  decider: AccessDecider;
}

export function registerSoftDeleteApi(app: FastifyInstance, options: SoftDeleteApiOptions): void {
  const { metadata, hosts, decider } = options;
  const door = options.door ?? PUBLIC_DOOR;

  async function dispatch(request: FastifyRequest): Promise<unknown> {
    const { registry, url, target } = await guardRequest(
      { decider, hosts, door },
      request,
      parseTarget,
      requirementFor,
    );
    const method = request.method;
    if (target.kind === 'catalog') {
      if (method !== 'GET') throw unsupported(method);
      return { repositories: await metadata.listDeletedRepositories(registry.id) };
    }
    const base = { registry: registry.loginServer, imageName: target.repository };
    if (target.kind === 'manifests') {
      if (method !== 'GET') throw unsupported(method);
      const manifests = await metadata.listDeletedManifests(registry.id, target.repository);
      return {
        ...base,
        manifests: manifests.map((m) => ({
          digest: m.digest,
          imageSize: m.size,
          createdTime: m.createdAt,
          deletedAt: m.deletedAt,
          mediaType: m.mediaType,
          ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        })),
      };
    }
    if (target.kind === 'tags') {
      if (method !== 'GET') throw unsupported(method);
      const tags = await metadata.listDeletedTags(registry.id, target.repository);
      return {
        ...base,
        tags: tags.map((t) => ({ tag: t.name, digest: t.digest, deletedAt: t.deletedAt })),
      };
    }
    if (method !== 'POST') throw unsupported(method);
    const tag = parseRestoreTag(await readBoundedBody(request.raw, 64 * 1024));
    // az sends Python's booleans: force=True / force=False.
    const force = (url.searchParams.get('force') ?? '').toLowerCase() === 'true';
    const outcome = await metadata.restoreManifest(registry.id, target.repository, target.digest, {
      ...(tag !== undefined ? { tag } : {}),
      force,
      softDelete: softDeletePolicy(registry.properties).enabled,
    });
    if (outcome !== 'restored') throw RESTORE_ERRORS[outcome]();
    return { ...base, digest: target.digest, ...(tag !== undefined ? { tag } : {}) };
  }

  app.route({
    method: ['GET', 'POST'],
    url: `${PREFIX}*`,
    handler: async (request, reply) => reply.send(await dispatch(request)),
  });
}

function unsupported(method: string): RegistryError {
  return new RegistryError('UNSUPPORTED', `${method} is not supported on this route`);
}
