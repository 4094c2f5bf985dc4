/**
 * @module registry/data-plane
 * The OCI Distribution API (`/v2/`) as a Fastify plugin. Pipeline per request:
 * registry from Host -> route from path -> handler. Bodies are never parsed by Fastify: blob
 * bytes stream from the socket into the blob store, and manifests are read under a size limit.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../core/errors.js';
import { PUBLIC_DOOR, type Door } from '../network/index.js';
import { baseMediaType } from '../core/media-types.js';
import { isValidTag } from '../core/reference.js';
import type { RegistryRecord } from '../metadata/index.js';
import type { AccessDecider, DataPrincipal, Requirement } from '../access/index.js';
import { registerAcrMetadataApi } from './acr-metadata-api.js';
import { sendRegistryError } from './errors.js';
import { guardRequest } from './request-guard.js';
import type { HostResolver } from './host-resolver.js';
import {
  contentLength,
  drain,
  hasBody,
  parseContentRange,
  parsePageSize,
  parseRangeHeader,
  readBoundedBody,
  uploadRange,
} from './http-utils.js';
import type { OciRegistry } from './oci-registry.js';
import { matchRoute, ROUTE_METHODS, type DataPlaneRoute } from './routes.js';

/** Catalog pages are capped so one request cannot list a huge registry at once. */
const MAX_CATALOG_PAGE = 1000;

export interface DataPlaneOptions {
  /** The listener these routes serve (default: the public endpoint). */
  door?: Door;
  registry: OciRegistry;
  hosts: HostResolver;
  decider: AccessDecider;
}

interface RequestContext {
  request: FastifyRequest;
  reply: FastifyReply;
  registry: RegistryRecord;
  route: DataPlaneRoute;
  query: URLSearchParams;
  principal: DataPrincipal;
  /** The principal may write referrers only (the scanner attaching its SBOM). */
  referrersOnly: boolean;
}

/** What each route needs from the access decision. */
function requirementFor(route: DataPlaneRoute, method: string): Requirement {
  if (route.name === 'base') return { kind: 'authenticated' };
  if (route.name === 'catalog') return { kind: 'catalog' };
  const repository = route.repository!;
  const write =
    route.name === 'upload' ||
    route.name === 'upload-start' ||
    (route.name === 'manifest' && method === 'PUT');
  const action =
    method === 'DELETE' && (route.name === 'manifest' || route.name === 'blob')
      ? 'delete'
      : write
        ? 'push'
        : 'pull';
  return { kind: 'repository', repository, actions: [action] };
}

type Handler = (context: RequestContext) => Promise<void>;

export async function dataPlanePlugin(
  app: FastifyInstance,
  options: DataPlaneOptions,
): Promise<void> {
  const { registry: oci, hosts, decider } = options;
  const door = options.door ?? PUBLIC_DOOR;

  // Leave every body unread: handlers stream `request.raw` themselves.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.setErrorHandler((error, request, reply) => sendRegistryError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendRegistryError(new RegistryError('NAME_UNKNOWN', 'not a registry API path'), request, reply),
  );

  const handlers: Record<string, Handler> = {
    'base GET': base,
    'base HEAD': base,
    'catalog GET': catalog,
    'tags GET': tags,
    'manifest GET': getManifest,
    'manifest HEAD': getManifest,
    'manifest PUT': putManifest,
    'manifest DELETE': deleteManifest,
    'blob GET': getBlob,
    'blob HEAD': getBlob,
    'blob DELETE': deleteBlob,
    'upload-start POST': startUpload,
    'upload GET': uploadStatus,
    'upload PATCH': patchUpload,
    'upload PUT': putUpload,
    'upload DELETE': cancelUpload,
    'referrers GET': referrers,
  };

  async function dispatch(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0');
    const {
      registry,
      url,
      target: route,
      principal,
      referrersOnly,
    } = await guardRequest({ decider, hosts, door }, request, matchRoute, requirementFor);
    const handler = handlers[`${route.name} ${request.method}`];
    if (!handler) {
      drain(request.raw);
      reply.header('Allow', ROUTE_METHODS[route.name].join(', '));
      throw new RegistryError('UNSUPPORTED', `${request.method} is not supported on this route`);
    }
    await handler({
      request,
      reply,
      registry,
      route,
      query: url.searchParams,
      principal,
      referrersOnly,
    });
    // Returning the reply tells Fastify a streamed body is still being sent.
    return reply;
  }

  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v2',
    handler: dispatch,
  });
  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v2/*',
    handler: dispatch,
  });

  // ACR's metadata API (/acr/v1/) shares the body handling and error serialiser.
  registerAcrMetadataApi(app, { registry: oci, hosts, decider, door });

  // Handlers

  async function base({ reply }: RequestContext): Promise<void> {
    reply.header('Content-Type', 'application/json').send('{}');
  }

  async function catalog({ reply, registry, query }: RequestContext): Promise<void> {
    const limit = Math.min(
      parsePageSize(query.get('n') ?? undefined) ?? MAX_CATALOG_PAGE,
      MAX_CATALOG_PAGE,
    );
    const last = query.get('last') ?? undefined;
    const page = await oci.listRepositories(registry, limit, last);
    const lastListed = page.repositories.at(-1);
    if (page.more && lastListed !== undefined) {
      reply.header('Link', nextLink('/v2/_catalog', limit, lastListed));
    }
    reply.send({ repositories: page.repositories });
  }

  async function tags({ reply, registry, route, query }: RequestContext): Promise<void> {
    const repository = route.repository!;
    const limit = parsePageSize(query.get('n') ?? undefined);
    const last = query.get('last') ?? undefined;
    const page = await oci.listTags(registry, repository, limit, last);
    const lastListed = page.tags.at(-1);
    if (page.more && limit !== undefined && lastListed !== undefined) {
      reply.header('Link', nextLink(`/v2/${repository}/tags/list`, limit, lastListed));
    }
    reply.send({ name: repository, tags: page.tags });
  }

  async function getManifest({ request, reply, registry, route }: RequestContext): Promise<void> {
    const manifest = await oci.getManifest(registry, route.repository!, route.reference!);
    reply
      .header('Content-Type', manifest.mediaType)
      .header('Content-Length', String(manifest.size))
      .header('Docker-Content-Digest', manifest.digest)
      .header('ETag', `"${manifest.digest}"`);
    if (request.method === 'HEAD') return reply.send();
    reply.send(manifest.content);
  }

  async function putManifest({
    request,
    reply,
    registry,
    route,
    query,
    referrersOnly,
  }: RequestContext): Promise<void> {
    const repository = route.repository!;
    const content = await readBoundedBody(request.raw, oci.limits.maxManifestBytes);
    const extraTags = query.getAll('tag');
    for (const tag of extraTags) {
      if (!isValidTag(tag))
        throw new RegistryError('TAG_INVALID', `invalid tag '${tag.slice(0, 200)}'`);
    }
    const stored = await oci.putManifest(
      registry,
      repository,
      route.reference!,
      content,
      baseMediaType(request.headers['content-type']),
      extraTags,
      { referrersOnly },
    );
    reply
      .code(201)
      .header('Location', `/v2/${repository}/manifests/${stored.digest}`)
      .header('Docker-Content-Digest', stored.digest);
    if (stored.subject) reply.header('OCI-Subject', stored.subject);
    reply.send();
  }

  async function deleteManifest({ reply, registry, route }: RequestContext): Promise<void> {
    await oci.deleteManifest(registry, route.repository!, route.reference!);
    reply.code(202).send();
  }

  async function getBlob({ request, reply, registry, route }: RequestContext): Promise<void> {
    const blob = await oci.statBlob(registry, route.repository!, route.reference!);
    const range = parseRangeHeader(request.headers.range, blob.size);
    reply
      .header('Content-Type', 'application/octet-stream')
      .header('Docker-Content-Digest', blob.digest)
      .header('ETag', `"${blob.digest}"`)
      .header('Accept-Ranges', 'bytes')
      .header('Cache-Control', 'max-age=31536000');
    if (range) {
      reply
        .code(206)
        .header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`)
        .header('Content-Length', String(range.end - range.start + 1));
    } else {
      reply.header('Content-Length', String(blob.size));
    }
    if (request.method === 'HEAD') return reply.send();
    // The whole blob is the range 0..size-1: the sender need not ask the file for its size.
    const sender = await oci.openBlobSender(blob.digest, range ?? { start: 0, end: blob.size - 1 });
    if (!sender) return reply.send(await oci.openBlob(blob.digest, range));
    // The store writes the body itself, with reused buffers: the headers go out first, as
    // Fastify would send them (onResponse hooks still run for a hijacked reply).
    reply.hijack();
    const response = reply.raw;
    try {
      response.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
      await sender.sendTo(response);
      response.end();
    } catch (error) {
      request.log.debug({ err: error }, 'blob body not sent to the end');
      response.destroy();
    } finally {
      await sender.close();
    }
  }

  async function deleteBlob({ reply, registry, route }: RequestContext): Promise<void> {
    await oci.deleteBlob(registry, route.repository!, route.reference!);
    reply.code(202).send();
  }

  async function startUpload({
    request,
    reply,
    registry,
    route,
    query,
  }: RequestContext): Promise<void> {
    const repository = route.repository!;
    const mount = query.get('mount');
    if (mount !== null) {
      const from = query.get('from') ?? undefined;
      const mounted = await oci.mountBlob(registry, repository, mount, from);
      if (mounted) {
        drain(request.raw);
        return blobCreated(reply, repository, mounted.digest);
      }
      // Not mountable: the spec says to fall back to an ordinary upload session.
    }
    const digest = query.get('digest');
    const id = await oci.startUpload(registry, repository);
    if (digest !== null) {
      // Monolithic upload: the whole blob is this request's body.
      await oci.appendUpload(registry, repository, id, request.raw, undefined, digest);
      const blob = await oci.completeUpload(registry, repository, id, digest);
      return blobCreated(reply, repository, blob.digest);
    }
    drain(request.raw);
    uploadAccepted(reply.code(202), repository, id, 0);
  }

  async function uploadStatus({ reply, registry, route }: RequestContext): Promise<void> {
    const size = await oci.uploadStatus(registry, route.repository!, route.reference!);
    uploadAccepted(reply.code(204), route.repository!, route.reference!, size);
  }

  async function patchUpload({ request, reply, registry, route }: RequestContext): Promise<void> {
    const repository = route.repository!;
    const id = route.reference!;
    const range = parseContentRange(request.headers['content-range']);
    const length = contentLength(request.raw);
    if (range && length !== undefined && range.length !== length) {
      drain(request.raw);
      throw new RegistryError('SIZE_INVALID', 'Content-Range and Content-Length disagree');
    }
    if (range) {
      const current = await oci.uploadStatus(registry, repository, id);
      if (range.start !== current) {
        drain(request.raw);
        throw new RegistryError(
          'RANGE_INVALID',
          `chunk starts at ${range.start}, upload has ${current} bytes`,
          {
            status: 416,
            headers: { Range: uploadRange(current), Location: uploadLocation(repository, id) },
          },
        );
      }
    }
    const size = await oci.appendUpload(registry, repository, id, request.raw, range?.start);
    uploadAccepted(reply.code(202), repository, id, size);
  }

  async function putUpload({
    request,
    reply,
    registry,
    route,
    query,
  }: RequestContext): Promise<void> {
    const repository = route.repository!;
    const id = route.reference!;
    const digest = query.get('digest');
    if (digest === null) {
      drain(request.raw);
      throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required');
    }
    if (hasBody(request.raw)) {
      const range = parseContentRange(request.headers['content-range']);
      await oci.appendUpload(registry, repository, id, request.raw, range?.start, digest);
    }
    const blob = await oci.completeUpload(registry, repository, id, digest);
    blobCreated(reply, repository, blob.digest);
  }

  async function cancelUpload({ reply, registry, route }: RequestContext): Promise<void> {
    await oci.cancelUpload(registry, route.repository!, route.reference!);
    reply.code(204).send();
  }

  async function referrers({ reply, registry, route, query }: RequestContext): Promise<void> {
    const artifactType = query.get('artifactType') ?? undefined;
    const index = await oci.referrers(registry, route.repository!, route.reference!, artifactType);
    if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
    // A Buffer, so Fastify adds no charset to the media type.
    reply.header('Content-Type', index.mediaType).send(Buffer.from(JSON.stringify(index)));
  }
}

function blobCreated(reply: FastifyReply, repository: string, digest: string): void {
  reply
    .code(201)
    .header('Location', `/v2/${repository}/blobs/${digest}`)
    .header('Docker-Content-Digest', digest)
    .send();
}

function uploadLocation(repository: string, id: string): string {
  return `/v2/${repository}/blobs/uploads/${id}`;
}

function uploadAccepted(reply: FastifyReply, repository: string, id: string, size: number): void {
  reply
    .header('Location', uploadLocation(repository, id))
    .header('Range', uploadRange(size))
    .header('Docker-Upload-UUID', id)
    .send();
}

function nextLink(path: string, limit: number, last: string): string {
  return `<${path}?n=${limit}&last=${encodeURIComponent(last)}>; rel="next"`;
}
