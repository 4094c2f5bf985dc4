/**
 * @module server/server
 * The composition root: opens the stores, bootstraps a fresh data directory, builds the data
 * plane and starts its listener. `breakwater serve` calls `startBreakwater`; HTTP tests call
 * `createPlatform` + `buildDataPlaneApp` and use `inject` with no socket.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import type { BreakwaterConfig } from '../config/config.js';
import { parseListenAddress } from '../config/config.js';
import { openSqliteMetadataStore, type MetadataStore } from '../metadata/index.js';
import {
  dataPlanePlugin,
  HostResolver,
  OciRegistry,
  sendRegistryError,
} from '../registry/index.js';
import { FilesystemBlobStore, type BlobStore } from '../storage/index.js';
import { ensureDefaultRegistry, listenerHosts } from './bootstrap.js';

export interface Platform {
  config: BreakwaterConfig;
  logger: Logger;
  metadata: MetadataStore;
  blobs: BlobStore;
  registry: OciRegistry;
  hosts: HostResolver;
  close(): Promise<void>;
}

export function createLogger(config: Pick<BreakwaterConfig, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'breakwater' } });
}

/** Opens the embedded stores (SQLite + filesystem) under the data directory. */
export async function createPlatform(config: BreakwaterConfig, logger: Logger): Promise<Platform> {
  await mkdir(config.data, { recursive: true });
  const metadata = await openSqliteMetadataStore(join(config.data, 'metadata.db'));
  const blobs = await FilesystemBlobStore.open(join(config.data, 'storage'));
  const registry = new OciRegistry(metadata, blobs, { maxManifestBytes: config.maxManifestBytes });
  const hosts = new HostResolver(metadata, config.loginServerSuffix);
  return {
    config,
    logger,
    metadata,
    blobs,
    registry,
    hosts,
    async close() {
      await blobs.close();
      await metadata.close();
    },
  };
}

/** The public data endpoint: `/healthz` plus the OCI API for every registry. */
export async function buildDataPlaneApp(platform: Platform): Promise<FastifyInstance> {
  const app = Fastify({
    // Fastify types its logger as FastifyBaseLogger; a pino Logger is one.
    loggerInstance: platform.logger as FastifyBaseLogger,
    // One log line per request comes from the onResponse hook below, not two from Fastify.
    logController: new LogController({ disableRequestLogging: true }),
    // Blob transfers can take as long as they take; idle sockets are still reaped.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    routerOptions: { maxParamLength: 4096 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Malformed URLs and the like never reach a route: answer them in OCI form too.
    frameworkErrors: (error, request, reply) => sendRegistryError(error, request, reply),
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url.slice(0, 512),
        host: request.headers.host,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register(dataPlanePlugin, { registry: platform.registry, hosts: platform.hosts });
  return app;
}

export interface RunningBreakwater {
  platform: Platform;
  dataPlane: FastifyInstance;
  /** Actual `host:port` of the data endpoint (the port is chosen when the config says 0). */
  listenAddress: string;
  close(): Promise<void>;
}

const HOUR = 3600_000;

export async function startBreakwater(config: BreakwaterConfig): Promise<RunningBreakwater> {
  const logger = createLogger(config);
  const platform = await createPlatform(config, logger);
  const dataPlane = await buildDataPlaneApp(platform);
  const { host, port } = parseListenAddress(config.listen);
  await dataPlane.listen({ host, port });
  const address = dataPlane.server.address();
  const boundPort = address && typeof address === 'object' ? address.port : port;
  await ensureDefaultRegistry(
    platform.metadata,
    config.loginServerSuffix,
    listenerHosts(host, boundPort),
    logger,
  );
  const listenAddress = `${host.includes(':') ? `[${host}]` : host}:${boundPort}`;

  const expireUploads = async () => {
    const removed = await platform.registry
      .expireUploads(new Date(Date.now() - config.uploadExpiryHours * HOUR))
      .catch((error: unknown) => logger.error({ err: error }, 'upload expiry failed'));
    if (removed) logger.info({ removed }, 'expired abandoned uploads');
  };
  await expireUploads();
  const janitor = setInterval(expireUploads, HOUR);
  janitor.unref();

  logger.info({ listen: listenAddress, data: config.data }, 'breakwater is listening');
  return {
    platform,
    dataPlane,
    listenAddress,
    async close() {
      clearInterval(janitor);
      await dataPlane.close();
      await platform.close();
    },
  };
}
