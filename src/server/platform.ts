/**
 * @module server/platform
 * Everything one Breakwater process holds, built once: the stores, the signing keys, the
 * identity service, the registry's token service, the access decision and the management
 * context. Listeners (server.ts) and HTTP tests (inject) are built on top of it.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { AccessDecider, AuditLog, RegistryTokens } from '../access/index.js';
import type { BreakwaterConfig } from '../config/config.js';
import { IdentityService, IdentityTokens, Sealer, SigningKeys } from '../identity/index.js';
import { ArmAuth, AsyncOperations, type ManagementContext } from '../management/index.js';
import {
  openMetadataStores,
  type ControlPlaneStore,
  type MetadataStore,
} from '../metadata/index.js';
import { ClientAddressResolver } from '../network/index.js';
import { HostResolver, OciRegistry } from '../registry/index.js';
import { openBlobStore, type BlobStore } from '../storage/index.js';
import { VulnerabilityDatabase, VulnerabilityScanner } from '../services/scanner/index.js';
import {
  ContainerHost,
  defaultInstanceName,
  ImageImporter,
  ImagePuller,
  MlJobRunner,
  ServiceEnvironment,
  WorkLeases,
} from '../services/index.js';
import { TaskService } from '../services/tasks/index.js';
import { blobStoreSourceArchives } from './build-sources.js';

/** The registry audience ACR's SDKs and the CLI ask the identity service for. */
export const ACR_AUDIENCE = 'https://containerregistry.azure.net';

export interface Platform {
  config: BreakwaterConfig;
  logger: Logger;
  metadata: MetadataStore;
  controlPlane: ControlPlaneStore;
  blobs: BlobStore;
  registry: OciRegistry;
  hosts: HostResolver;
  identityKeys: SigningKeys;
  registryKeys: SigningKeys;
  identity: IdentityService;
  registryTokens: RegistryTokens;
  decider: AccessDecider;
  management: ManagementContext;
  /** How the trusted services reach the data endpoint (set once it is bound). */
  services: ServiceEnvironment;
  /** The vulnerability scanner (a first-party trusted service), fed by pushes. */
  scanner: VulnerabilityScanner;
  /** The registry task runner. */
  tasks: TaskService;
  workLeases: WorkLeases;
  /** The management listener's public URL, once known (its port may be chosen at bind time). */
  setManagementUrl(url: string): void;
  close(): Promise<void>;
}

export function createLogger(config: Pick<BreakwaterConfig, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'breakwater' } });
}

/**
 * Opens the stores (the embedded SQLite + filesystem under the data directory, or the shared
 * PostgreSQL / Azure Blob Storage the config names) and the keys under the data directory.
 * `managementUrl` is the public URL of the management listener (the identity authority); when
 * the listener binds port 0 it is set again after binding.
 */
export async function createPlatform(
  config: BreakwaterConfig,
  logger: Logger,
  managementUrl = config.managementUrl || 'https://127.0.0.1:8443',
): Promise<Platform> {
  await mkdir(config.data, { recursive: true });
  const {
    metadata,
    controlPlane,
    accessLog,
    runLogs,
    leases,
    scanner: scannerStore,
  } = await openMetadataStores({
    metadataUrl: config.metadataUrl,
    sqlitePath: join(config.data, 'metadata.db'),
  });
  const blobs = await openBlobStore({
    storage: config.storage,
    connectionString: config.storageConnectionString,
    s3Endpoint: config.s3Endpoint,
    s3Region: config.s3Region,
    filesystemRoot: join(config.data, 'storage'),
  });
  const keysDirectory = join(config.data, 'keys');
  const identityKeys = await SigningKeys.open(keysDirectory, 'identity');
  const registryKeys = await SigningKeys.open(keysDirectory, 'registry');
  const sealer = await Sealer.open(keysDirectory);

  const audiences = {
    arm: [
      ...new Set([
        config.armAudience,
        'https://management.azure.com/',
        'https://management.core.windows.net/',
      ]),
    ],
    acr: [ACR_AUDIENCE],
    graph: [`${managementUrl}/`],
  };
  // Which identities a resource holds: registries keep their envelope in the metadata store.
  const resourceIdentity = async (resourceId: string) => {
    const resource = await controlPlane.getResource(resourceId);
    if (resource) return resource.identity;
    const name = resourceId.split('/').at(-1);
    const registry = name ? await metadata.getRegistryByName(name) : undefined;
    return registry?.arm?.resourceId.toLowerCase() === resourceId.toLowerCase()
      ? registry.arm.identity
      : null;
  };
  const endpoints = { managementUrl };
  const identity = new IdentityService(
    controlPlane,
    new IdentityTokens(identityKeys, () => endpoints.managementUrl),
    audiences,
    resourceIdentity,
  );
  const registryTokens = new RegistryTokens(registryKeys);
  const decider = new AccessDecider(
    controlPlane,
    identity,
    registryTokens,
    logger,
    new ClientAddressResolver(config.trustedProxies),
    new AuditLog(accessLog, logger, join(config.data, 'audit')),
  );
  const registry = new OciRegistry(metadata, blobs, { maxManifestBytes: config.maxManifestBytes });
  const hosts = new HostResolver(metadata, config.loginServerSuffix);
  const services = new ServiceEnvironment(config.serviceSourceAddress, (loginServer) =>
    hosts.resolve(loginServer).then(
      () => true,
      () => false,
    ),
  );
  const scanner = new VulnerabilityScanner({
    environment: services,
    identity,
    store: scannerStore,
    database: new VulnerabilityDatabase(scannerStore),
    logger,
    audience: ACR_AUDIENCE,
    databasePollSeconds: config.scannerDatabasePollSeconds,
  });
  // Every pushed image (manifest or index) is queued for a scan; referrers (SBOMs,
  // signatures) are not images and are left alone.
  registry.pushes.on((event) => {
    if (event.subject) return;
    void scanner.enqueue(
      {
        registryId: event.registry.id,
        loginServer: event.registry.loginServer,
        repository: event.repository,
        digest: event.digest,
      },
      'push',
    );
  });
  // The long-running work this replica does after answering, leased so that another replica
  // ends it if this one dies.
  const workLeases = new WorkLeases({
    store: leases,
    controlPlane,
    // One process at a time uses an embedded (SQLite) database: whatever work its leases name
    // was left by an earlier incarnation, and ends at start rather than when the lease expires.
    instanceName: config.instanceName || (config.metadataUrl ? defaultInstanceName() : 'embedded'),
    leaseMs: config.workLeaseSeconds * 1000,
    logger: logger.child({ service: 'work-leases' }),
  });
  const tasks = new TaskService({
    controlPlane,
    runLogs,
    environment: services,
    identityToken: async (resourceId, which) =>
      (await identity.managedIdentityToken(resourceId, which, ACR_AUDIENCE)).token,
    runToken: (runResourceId, loginServer) =>
      registryTokens.refreshToken({ kind: 'run', id: runResourceId }, loginServer),
    logger: logger.child({ service: 'tasks' }),
    workDirectory: join(config.data, 'work', 'runs'),
    sources: blobStoreSourceArchives(blobs),
    maxTimeoutSeconds: config.taskTimeoutSeconds,
    leases: workLeases,
  });
  // What the services that run images share: the data endpoint and their resource's identity.
  const runnerOptions = {
    environment: services,
    identityToken: async (resourceId: string, selected: string) =>
      (await identity.managedIdentityToken(resourceId, selected, ACR_AUDIENCE)).token,
    timeoutMs: config.taskTimeoutSeconds * 1000,
  };
  const management: ManagementContext = {
    metadata,
    controlPlane,
    identity,
    auth: new ArmAuth(identity, controlPlane),
    sealer,
    loginServerSuffix: config.loginServerSuffix,
    defaultLocation: config.location,
    managementUrl,
    decider,
    accessLog,
    scanner,
    scannerStore,
    tasks,
    workLeases,
    runLogs,
    operations: new AsyncOperations(),
    importer: new ImageImporter(services, async () => {
      const issued = await identity.firstPartyToken(
        'import',
        'Azure Container Registry Import',
        ACR_AUDIENCE,
      );
      return issued.token;
    }),
    containers: new ContainerHost({
      ...runnerOptions,
      workDirectory: join(config.data, 'containers'),
    }),
    mlJobs: new MlJobRunner({ ...runnerOptions, workDirectory: join(config.data, 'ml-jobs') }),
    images: {
      puller: new ImagePuller(services),
      identityCredential: (resourceId, selected) => ({
        kind: 'identity',
        token: () => runnerOptions.identityToken(resourceId, selected),
      }),
    },
  };
  return {
    config,
    logger,
    metadata,
    controlPlane,
    blobs,
    registry,
    hosts,
    identityKeys,
    registryKeys,
    identity,
    registryTokens,
    decider,
    management,
    services,
    scanner,
    tasks,
    workLeases,
    setManagementUrl(url: string) {
      endpoints.managementUrl = url;
      management.managementUrl = url;
      audiences.graph.splice(0, audiences.graph.length, `${url}/`);
    },
    async close() {
      await scanner.stop();
      await tasks.close();
      workLeases.stop();
      await decider.auditLog.close();
      await blobs.close();
      await metadata.close();
    },
  };
}
