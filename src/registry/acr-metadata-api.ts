/**
 * @module registry/acr-metadata-api
 * ACR's data-plane metadata API under `/acr/v1/` (Azure.ContainerRegistry 2021-07-01), which the
 * az CLI (`acr repository`, `acr manifest`) and the Azure SDKs use: repositories, tags and
 * manifests with their changeable attributes (the repository locks). Every request passes the
 * access decision first, like `/v2/`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessDecider, Requirement } from '../access/index.js';
import { parseDigest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import { PUBLIC_DOOR, type Door } from '../network/index.js';
import { IMAGE_MANIFEST_TYPES } from '../core/media-types.js';
import { assertRepositoryName, isValidTag } from '../core/reference.js';
import type {
  ChangeableAttributes,
  ManifestInfo,
  RegistryRecord,
  TagRecord,
} from '../metadata/index.js';
import type { HostResolver } from './host-resolver.js';
import { parsePageSize, readBoundedBody } from './http-utils.js';
import { LOCKED_MESSAGE } from './locks.js';
import type { OciRegistry } from './oci-registry.js';
import { guardRequest } from './request-guard.js';
import { softDeletePolicy } from './soft-delete.js';

type Target =
  | { kind: 'catalog' }
  | { kind: 'checkaccess' }
  | { kind: 'repository'; repository: string }
  | { kind: 'tags'; repository: string }
  | { kind: 'tag'; repository: string; tag: string }
  | { kind: 'manifests'; repository: string }
  | { kind: 'manifest'; repository: string; digest: string };

function parseTarget(path: string): Target {
  const rest = path.slice('/acr/v1/'.length).replace(/\/+$/, '');
  if (rest === '_catalog') return { kind: 'catalog' };
  if (rest === '_checkaccess') return { kind: 'checkaccess' };
  const match = /^(.+?)(?:\/(_tags|_manifests)(?:\/([^/]+))?)?$/.exec(rest);
  if (!match) throw new RegistryError('NAME_INVALID', 'invalid repository path');
  const repository = assertRepositoryName(match[1]!);
  const [, , collection, item] = match;
  if (!collection) return { kind: 'repository', repository };
  if (collection === '_tags') {
    if (item === undefined) return { kind: 'tags', repository };
    const tag = decodeURIComponent(item);
    if (!isValidTag(tag))
      throw new RegistryError('TAG_INVALID', `invalid tag '${tag.slice(0, 200)}'`);
    return { kind: 'tag', repository, tag };
  }
  if (item === undefined) return { kind: 'manifests', repository };
  return { kind: 'manifest', repository, digest: parseDigest(decodeURIComponent(item)).value };
}

function requirementFor(target: Target, method: string): Requirement {
  if (target.kind === 'catalog') return { kind: 'catalog' };
  if (target.kind === 'checkaccess') return { kind: 'authenticated' };
  const action =
    method === 'DELETE' ? 'delete' : method === 'PATCH' ? 'metadata_write' : 'metadata_read';
  return { kind: 'repository', repository: target.repository, actions: [action] };
}

const ATTRIBUTE_NAMES = ['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled'] as const;

function parseAttributeChange(body: Buffer): Partial<ChangeableAttributes> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    throw new RegistryError('UNSUPPORTED', 'the body must be JSON changeable attributes', {
      status: 400,
    });
  }
  const change: Partial<ChangeableAttributes> = {};
  for (const name of ATTRIBUTE_NAMES) {
    const value = (parsed as Record<string, unknown>)?.[name];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') {
      throw new RegistryError('UNSUPPORTED', `'${name}' must be true or false`, { status: 400 });
    }
    change[name] = value;
  }
  return change;
}

export interface AcrMetadataApiOptions {
  /** The listener these routes serve (default: the public endpoint). */
  door?: Door;
  registry: OciRegistry;
  hosts: HostResolver;
  decider: AccessDecider;
}

export function registerAcrMetadataApi(app: FastifyInstance, options: AcrMetadataApiOptions): void {
  const { registry: oci, hosts, decider } = options;
  const door = options.door ?? PUBLIC_DOOR;
  const metadata = oci.metadata;

  async function platformOf(manifest: ManifestInfo, registry: RegistryRecord, repository: string) {
    if (!IMAGE_MANIFEST_TYPES.has(manifest.mediaType))
      return { architecture: null, os: null, configMediaType: null };
    try {
      const record = await metadata.getManifest(registry.id, repository, manifest.digest);
      const body = JSON.parse(record!.content.toString('utf8')) as {
        config?: { digest: string; mediaType: string; size: number };
      };
      const config = body.config;
      if (!config || config.size > 1024 * 1024)
        return { architecture: null, os: null, configMediaType: config?.mediaType ?? null };
      const stream = await oci.openBlob(config.digest);
      const parts: Buffer[] = [];
      for await (const chunk of stream) parts.push(chunk as Buffer);
      const parsed = JSON.parse(Buffer.concat(parts).toString('utf8')) as {
        architecture?: string;
        os?: string;
      };
      return {
        architecture: parsed.architecture ?? null,
        os: parsed.os ?? null,
        configMediaType: config.mediaType,
      };
    } catch {
      return { architecture: null, os: null, configMediaType: null };
    }
  }

  async function manifestView(
    manifest: ManifestInfo,
    registry: RegistryRecord,
    repository: string,
  ) {
    return {
      digest: manifest.digest,
      imageSize: manifest.size,
      createdTime: manifest.createdAt,
      lastUpdateTime: manifest.createdAt,
      ...(await platformOf(manifest, registry, repository)),
      mediaType: manifest.mediaType,
      ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
      tags: manifest.tags,
      changeableAttributes: manifest.attributes,
    };
  }

  function tagView(tag: TagRecord) {
    return {
      name: tag.name,
      digest: tag.digest,
      createdTime: tag.updatedAt,
      lastUpdateTime: tag.updatedAt,
      signed: false,
      changeableAttributes: tag.attributes,
    };
  }

  async function dispatch(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const { registry, url, target, principal } = await guardRequest(
      { decider, hosts, door },
      request,
      parseTarget,
      requirementFor,
    );
    const base = {
      registry: registry.loginServer,
      imageName: 'repository' in target ? target.repository : undefined,
    };
    const method = request.method;

    if (target.kind === 'catalog' && method === 'GET') {
      const limit = Math.min(parsePageSize(url.searchParams.get('n') ?? undefined) ?? 1000, 1000);
      const page = await oci.listRepositories(
        registry,
        limit,
        url.searchParams.get('last') ?? undefined,
      );
      return { repositories: page.repositories };
    }
    if (target.kind === 'catalog') throw unsupported(method);
    if (target.kind === 'checkaccess') {
      // What the registry makes of this caller: its address, the deciding rule, what to change.
      if (method !== 'GET') throw unsupported(method);
      const repository = url.searchParams.get('repository');
      const action = url.searchParams.get('action') ?? 'pull';
      if (repository !== null) assertRepositoryName(repository);
      if (!['pull', 'push', 'delete'].includes(action)) {
        throw new RegistryError('UNSUPPORTED', `unknown action '${action.slice(0, 20)}'`, {
          status: 400,
        });
      }
      return decider.explain(
        registry,
        decider.sourceOf(request.socket.remoteAddress, request.headers),
        principal,
        repository !== null ? { repository, action } : undefined,
      );
    }
    const repository = target.repository;
    const info = await metadata.getRepositoryInfo(registry.id, repository);
    if (!info)
      throw new RegistryError('NAME_UNKNOWN', `repository '${repository}' not known to registry`, {
        detail: { name: repository },
      });

    switch (target.kind) {
      case 'repository': {
        if (method === 'GET') return repositoryView(registry, info);
        if (method === 'PATCH') {
          const change = parseAttributeChange(await readBoundedBody(request.raw, 64 * 1024));
          await metadata.updateAttributes(registry.id, repository, { kind: 'repository' }, change);
          return repositoryView(
            registry,
            (await metadata.getRepositoryInfo(registry.id, repository))!,
          );
        }
        if (method === 'DELETE') {
          const attributes = info.attributes;
          if (!attributes.deleteEnabled || !attributes.writeEnabled)
            throw new RegistryError('DENIED', LOCKED_MESSAGE, { status: 405 });
          const deleted = await metadata.deleteRepository(
            registry.id,
            repository,
            softDeletePolicy(registry.properties).enabled,
          );
          reply.code(202);
          return deleted;
        }
        throw unsupported(method);
      }
      case 'tags': {
        if (method !== 'GET') throw unsupported(method);
        let tags = (await metadata.listTagRecords(registry.id, repository)).filter(
          (t) => t.attributes.listEnabled,
        );
        const digest = url.searchParams.get('digest');
        if (digest) tags = tags.filter((t) => t.digest === digest);
        const order = url.searchParams.get('orderby');
        if (order === 'timedesc') tags.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
        if (order === 'timeasc') tags.sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
        const last = url.searchParams.get('last');
        if (last) tags = tags.filter((t) => t.name > last);
        const limit = parsePageSize(url.searchParams.get('n') ?? undefined);
        if (limit !== undefined) tags = tags.slice(0, limit);
        return { ...base, tags: tags.map(tagView) };
      }
      case 'tag': {
        const tag = await metadata.getTagRecord(registry.id, repository, target.tag);
        if (!tag)
          throw new RegistryError('MANIFEST_UNKNOWN', `tag '${target.tag}' not known`, {
            detail: { tag: target.tag },
          });
        if (method === 'GET') return { ...base, tag: tagView(tag) };
        if (method === 'PATCH') {
          const change = parseAttributeChange(await readBoundedBody(request.raw, 64 * 1024));
          await metadata.updateAttributes(
            registry.id,
            repository,
            { kind: 'tag', tag: target.tag },
            change,
          );
          return {
            ...base,
            tag: tagView((await metadata.getTagRecord(registry.id, repository, target.tag))!),
          };
        }
        if (method === 'DELETE') {
          await oci.deleteManifest(registry, repository, target.tag);
          reply.code(202);
          return '';
        }
        throw unsupported(method);
      }
      case 'manifests': {
        if (method !== 'GET') throw unsupported(method);
        let manifests = await metadata.listManifestInfos(registry.id, repository);
        const order = url.searchParams.get('orderby');
        if (order === 'timedesc') manifests = [...manifests].reverse();
        const last = url.searchParams.get('last');
        if (last) manifests = manifests.filter((m) => m.digest > last);
        const limit = parsePageSize(url.searchParams.get('n') ?? undefined);
        if (limit !== undefined) manifests = manifests.slice(0, limit);
        const views = [];
        for (const manifest of manifests)
          views.push(await manifestView(manifest, registry, repository));
        return { ...base, manifests: views };
      }
      case 'manifest': {
        const find = async () =>
          (await metadata.listManifestInfos(registry.id, repository)).find(
            (m) => m.digest === target.digest,
          );
        const manifest = await find();
        if (!manifest)
          throw new RegistryError('MANIFEST_UNKNOWN', undefined, {
            detail: { digest: target.digest },
          });
        if (method === 'GET')
          return { ...base, manifest: await manifestView(manifest, registry, repository) };
        if (method === 'PATCH') {
          const change = parseAttributeChange(await readBoundedBody(request.raw, 64 * 1024));
          await metadata.updateAttributes(
            registry.id,
            repository,
            { kind: 'manifest', digest: target.digest },
            change,
          );
          return { ...base, manifest: await manifestView((await find())!, registry, repository) };
        }
        throw unsupported(method);
      }
    }
  }

  function repositoryView(
    registry: RegistryRecord,
    info: NonNullable<Awaited<ReturnType<typeof metadata.getRepositoryInfo>>>,
  ) {
    return {
      registry: registry.loginServer,
      imageName: info.name,
      createdTime: info.createdAt,
      lastUpdateTime: info.lastUpdateTime,
      manifestCount: info.manifestCount,
      tagCount: info.tagCount,
      changeableAttributes: info.attributes,
    };
  }

  app.route({
    method: ['GET', 'PATCH', 'DELETE'],
    url: '/acr/v1/*',
    handler: async (request, reply) => {
      const result = await dispatch(request, reply);
      return result === '' ? reply.send() : reply.send(result);
    },
  });
}

function unsupported(method: string): RegistryError {
  return new RegistryError('UNSUPPORTED', `${method} is not supported on this route`);
}
