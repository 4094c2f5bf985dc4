/**
 * @module server/server
 * The composition root: builds the platform, the two listeners and their TLS, bootstraps a fresh
 * data directory, and shuts everything down cleanly.
 *
 * | listener   | serves                                                        | default           |
 * |------------|---------------------------------------------------------------|-------------------|
 * | data       | `/v2/` and `/oauth2/*` for every registry (Host picks it)     | 127.0.0.1:5000    |
 * | management | ARM API, identity service, Graph subset, portal at `/portal/` | 127.0.0.1:8443 TLS|
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { BreakwaterConfig } from '../config/config.js';
import { parseListenAddress } from '../config/config.js';
import { managementPlugin, sendArmError } from '../management/index.js';
import type { MetadataStore } from '../metadata/index.js';
import {
  dataPlanePlugin,
  rateLimiting,
  GarbageCollector,
  scheduleCollection,
  sendRegistryError,
  tokenEndpoints,
} from '../registry/index.js';
import { PUBLIC_DOOR, type Door } from '../network/index.js';
import {
  ensureTlsMaterialOffThread,
  loadTlsFiles,
  SERVER_TLS_SETTINGS,
  trustInstructions,
} from '../tls/index.js';
import { PrivateEndpointListeners } from './private-endpoints.js';
import { reconcileOnChange } from './reconcile-on-change.js';
import { portalRoutes } from './portal.js';
import { bootstrapPlatform, listenerHosts, type BootstrapCredentials } from './bootstrap.js';
import { createLogger, createPlatform, type Platform } from './platform.js';

export { createLogger, createPlatform, type Platform } from './platform.js';

interface TlsOptions {
  key: string;
  cert: string;
}

function baseOptions(platform: Platform) {
  return {
    // A stalled or trickling client loses its connection after this much silence.
    connectionTimeout: platform.config.idleTimeoutSeconds * 1000,
    // Fastify types its logger as FastifyBaseLogger; a pino Logger is one.
    loggerInstance: platform.logger as FastifyBaseLogger,
    // One log line per request comes from the onResponse hook below, not two from Fastify.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 4096 },
    return503OnClosing: true,
    forceCloseConnections: 'idle' as const,
  };
}

/**
 * No answer leaves before the metadata commits it follows are on disk: with SQLite the log is
 * synced in groups off the event loop (metadata/wal-durability), so this waits for one fdatasync
 * shared by every response waiting at that moment; otherwise it costs nothing.
 */
function acknowledgeDurably(app: FastifyInstance, metadata: MetadataStore): void {
  app.addHook('onSend', async (_request, _reply, payload) => {
    if (metadata.hasUnsyncedCommits()) await metadata.syncCommits();
    return payload;
  });
}

function logRequests(app: FastifyInstance): void {
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
}

/**
 * The Node server under a listener, with TLS when given. Slowloris: a client that dribbles its
 * headers keeps its connection until `headersTimeout`, which Node checks every
 * `connectionsCheckingInterval` (30 s by default; checked more often when the limit is short).
 */
function nodeServerOptions(platform: Platform, tls: TlsOptions | undefined) {
  const headersTimeout = platform.config.headersTimeoutSeconds * 1000;
  const limits = {
    headersTimeout,
    connectionsCheckingInterval: Math.min(30_000, Math.max(250, headersTimeout / 4)),
  };
  return tls ? { https: { ...tls, ...SERVER_TLS_SETTINGS, ...limits } } : { http: limits };
}

/** The public data endpoint: `/healthz`, the token endpoints and the OCI API. */
export async function buildDataPlaneApp(
  platform: Platform,
  tls?: TlsOptions,
  door: Door = PUBLIC_DOOR,
): Promise<FastifyInstance> {
  const app = Fastify({
    ...baseOptions(platform),
    ...nodeServerOptions(platform, tls),
    // Blob transfers can take as long as they take; silent sockets are still reaped
    // (connectionTimeout, in baseOptions) and headers must arrive in time (nodeServerOptions).
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    // Malformed URLs and the like never reach a route: answer them in OCI form too.
    frameworkErrors: (error, request, reply) => sendRegistryError(error, request, reply),
  }) as unknown as FastifyInstance;
  logRequests(app);
  acknowledgeDurably(app, platform.metadata);
  await rateLimiting(app, {
    decider: platform.decider,
    requests: platform.config.rateLimitRequests,
    windowSeconds: platform.config.rateLimitWindowSeconds,
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register(tokenEndpoints, {
    hosts: platform.hosts,
    decider: platform.decider,
    tokens: platform.registryTokens,
    door,
  });
  await app.register(dataPlanePlugin, {
    registry: platform.registry,
    hosts: platform.hosts,
    decider: platform.decider,
    door,
  });
  return app;
}

/** The management listener: ARM API, identity service, Graph subset, the web portal. */
export async function buildManagementApp(
  platform: Platform,
  tls?: TlsOptions,
): Promise<FastifyInstance> {
  const app = Fastify({
    ...baseOptions(platform),
    ...nodeServerOptions(platform, tls),
    bodyLimit: 4 * 1024 * 1024,
    frameworkErrors: (error, request, reply) => sendArmError(error, request, reply),
  }) as unknown as FastifyInstance;
  logRequests(app);
  acknowledgeDurably(app, platform.metadata);
  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register(managementPlugin, {
    context: platform.management,
    identityKeys: platform.identityKeys,
  });
  await app.register(portalRoutes);
  return app;
}

export interface RunningBreakwater {
  platform: Platform;
  dataPlane: FastifyInstance;
  management: FastifyInstance;
  /** Actual `host:port` of the data endpoint (the port is chosen when the config says 0). */
  listenAddress: string;
  managementUrl: string;
  privateEndpoints: PrivateEndpointListeners;
  /** Present on the first start of a data directory only. */
  bootstrap?: BootstrapCredentials;
  close(): Promise<void>;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/**
 * How often each replica looks for private-endpoint changes made through another one. A check is
 * one read of one row, so every couple of seconds costs nothing, and a change reaches every
 * replica about as fast as an operator can move on to use it.
 */
const PRIVATE_ENDPOINT_CHECK_MS = 2_000;

function boundPort(app: FastifyInstance, fallback: number): number {
  const address = app.server.address();
  return address && typeof address === 'object' ? address.port : fallback;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** TLS material: the configured pair, or the server's own CA and certificate. */
async function tlsMaterial(
  config: BreakwaterConfig,
  names: string[],
  logger: Logger,
): Promise<TlsOptions & { caPath?: string }> {
  if (config.tlsCert && config.tlsKey) {
    const files = await loadTlsFiles(config.tlsCert, config.tlsKey);
    return { key: files.key, cert: files.cert };
  }
  const ips = names.filter((n) => /^[\d.]+$/.test(n) || n.includes(':'));
  const dns = names.filter((n) => !ips.includes(n));
  const material = await ensureTlsMaterialOffThread(join(config.data, 'tls'), { dns, ips });
  logger.debug({ caPath: material.caPath }, 'using the platform CA');
  return { key: material.key, cert: material.cert, caPath: material.caPath };
}

export async function startBreakwater(config: BreakwaterConfig): Promise<RunningBreakwater> {
  const logger = createLogger(config);
  const platform = await createPlatform(config, logger);
  const data = parseListenAddress(config.listen);
  const management = parseListenAddress(config.managementListen);

  // One certificate covers both listeners: their addresses, localhost, and every login server.
  const names = [
    ...new Set([
      management.host,
      data.host,
      'localhost',
      '127.0.0.1',
      `*.${config.loginServerSuffix}`,
    ]),
  ].filter((n) => n !== '0.0.0.0' && n !== '::');
  const tls = await tlsMaterial(config, names, logger);

  const managementApp = await buildManagementApp(platform, tls);
  await managementApp.listen({ host: management.host, port: management.port });
  const managementUrl =
    config.managementUrl ||
    `https://${hostPort(management.host, boundPort(managementApp, management.port))}`;
  platform.setManagementUrl(managementUrl);

  const dataPlane = await buildDataPlaneApp(platform, config.dataTls ? tls : undefined);
  await dataPlane.listen({ host: data.host, port: data.port });
  const dataPort = boundPort(dataPlane, data.port);
  const listenAddress = hostPort(data.host, dataPort);
  // The services connect to the public endpoint like any client (a wildcard bind: via loopback).
  const serviceHost =
    data.host === '0.0.0.0' ? '127.0.0.1' : data.host === '::' ? '::1' : data.host;
  platform.services.dataEndpoint = `${config.dataTls ? 'https' : 'http'}://${hostPort(serviceHost, dataPort)}`;
  if (config.dataTls && tls.caPath) platform.services.ca = await readFile(tls.caPath, 'utf8');
  platform.scanner.start();

  await platform.tasks.start();
  await platform.workLeases.start();

  const bootstrap = await bootstrapPlatform(
    platform,
    [...listenerHosts(data.host, dataPort), ...config.advertisedHosts],
    logger,
  );
  if (bootstrap) {
    // Printed once, for the person who started the server; also in <data>/bootstrap.json (0600).
    process.stderr.write(
      [
        '',
        'Breakwater bootstrapped a fresh data directory. Owner service principal (keep it safe):',
        `  tenant:       ${bootstrap.tenantId}`,
        `  subscription: ${bootstrap.subscriptionId}`,
        `  clientId:     ${bootstrap.clientId}`,
        `  clientSecret: ${bootstrap.clientSecret}`,
        `  management:   ${bootstrap.managementEndpoint}`,
        `  saved in:     ${join(config.data, 'bootstrap.json')}`,
        tls.caPath
          ? trustInstructions(tls.caPath, [
              hostPort(management.host, boundPort(managementApp, management.port)),
              listenAddress,
            ])
          : '',
        '',
      ].join('\n'),
    );
  }

  // Private endpoints listen on their own addresses, on the data endpoint's port.
  const privateEndpoints = new PrivateEndpointListeners(
    platform,
    dataPort,
    config.dataTls ? tls : undefined,
    buildDataPlaneApp,
  );
  // Every replica syncs when the shared access generation moved, so a change through any replica
  // reaches all; the replica that receives a change checks at once, before it answers.
  const endpointWatch = await reconcileOnChange({
    name: 'private endpoints',
    version: () => platform.controlPlane.accessGeneration(),
    reconcile: () => privateEndpoints.sync(),
    intervalMs: PRIVATE_ENDPOINT_CHECK_MS,
    logger,
  });
  platform.management.onNetworkChanged = () => endpointWatch.check();

  const expireUploads = async () => {
    const removed = await platform.registry
      .expireUploads(new Date(Date.now() - config.uploadExpiryHours * HOUR))
      .catch((error: unknown) => logger.error({ err: error }, 'upload expiry failed'));
    if (removed) logger.info({ removed }, 'expired abandoned uploads');
    const pruned = await platform.management.accessLog
      .prune(new Date(Date.now() - config.auditRetentionDays * 24 * HOUR).toISOString())
      .catch((error: unknown) => logger.error({ err: error }, 'audit retention failed'));
    if (pruned) logger.info({ pruned }, 'pruned old access decisions');
  };
  await expireUploads();
  const janitor = setInterval(expireUploads, HOUR);
  janitor.unref();
  const collection = scheduleCollection(
    new GarbageCollector(platform.metadata, platform.blobs, config.gcGraceMinutes * MINUTE),
    config.gcIntervalMinutes * MINUTE,
    logger,
  );

  // Rotated signing keys (`breakwater keys rotate`) take effect without a restart.
  const reloadKeys = () => {
    Promise.all([platform.identityKeys.reload(), platform.registryKeys.reload()]).then(
      () => logger.debug({ signing: platform.registryKeys.current.kid }, 'signing keys reloaded'),
      (error: unknown) => logger.error({ err: error }, 'signing keys could not be reloaded'),
    );
  };
  process.on('SIGHUP', reloadKeys);
  const keyReloader = setInterval(reloadKeys, MINUTE);
  keyReloader.unref();

  // Where this process listens, for local tools (the CLI's default login) and tests.
  const endpoints = {
    pid: process.pid,
    data: listenAddress,
    dataTls: config.dataTls,
    management: managementUrl,
    caPath: tls.caPath ?? null,
  };
  await writeFile(join(config.data, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
  logger.info(
    { listen: listenAddress, management: managementUrl, data: config.data },
    'breakwater is listening',
  );
  return {
    platform,
    dataPlane,
    management: managementApp,
    listenAddress,
    managementUrl,
    privateEndpoints,
    ...(bootstrap ? { bootstrap } : {}),
    async close() {
      clearInterval(janitor);
      clearInterval(keyReloader);
      process.off('SIGHUP', reloadKeys);
      await collection.stop();
      await endpointWatch.stop();
      await privateEndpoints.close();
      await dataPlane.close();
      await managementApp.close();
      await platform.close();
    },
  };
}
