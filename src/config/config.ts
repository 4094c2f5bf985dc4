/**
 * @module config/config
 * The server's settings: one typed schema, filled from (lowest to highest precedence) built-in
 * defaults, a JSON config file, `BREAKWATER_*` environment variables, and command-line flags.
 * Unknown keys and ill-typed values are refused at start, with the source named.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface BreakwaterConfig {
  /** Data directory: metadata database, blobs, uploads. */
  data: string;
  /** Public data endpoint, `HOST:PORT` (`[::1]:5000` for IPv6). */
  listen: string;
  /** Login servers are `<registry name>.<suffix>`. */
  loginServerSuffix: string;
  logLevel: LogLevel;
  /** Largest manifest accepted, in bytes. */
  maxManifestBytes: number;
  /** Upload sessions untouched for this long are discarded. */
  uploadExpiryHours: number;
  /** Garbage collection runs this often (and once at start). */
  gcIntervalMinutes: number;
  /**
   * Blobs pushed, mounted or claimed this recently are never collected, even unreferenced: the
   * time a client may take between pushing layers and pushing their manifest.
   */
  gcGraceMinutes: number;
  /** Access decisions are kept this long in the store the API lists (the JSONL file is kept). */
  auditRetentionDays: number;
  /** Management listener (ARM API, identity service), HTTPS, `HOST:PORT`. */
  managementListen: string;
  /** Public URL of the management listener; empty = `https://<bound management address>`. */
  managementUrl: string;
  /** PEM certificate and key for the listeners; empty = the server's own CA makes them. */
  tlsCert: string;
  tlsKey: string;
  /** Serve the data endpoint over TLS too (same certificate). */
  dataTls: boolean;
  /** The ARM audience (the cloud's AD resource id, e.g. az's `--endpoint-active-directory-resource-id`). */
  armAudience: string;
  /** Location given to resources created without one. */
  location: string;
  /**
   * Peers (addresses or CIDR ranges) whose X-Forwarded-For / Forwarded headers are believed,
   * e.g. the load balancer in front of replicas. Empty: no forwarding header counts.
   */
  trustedProxies: string[];
  /**
   * A connection that sends or reads nothing for this long is closed (slow or stalled clients;
   * a transfer that keeps moving is never cut, however long it takes).
   */
  idleTimeoutSeconds: number;
  /** A client must finish sending its request headers within this long (slowloris). */
  headersTimeoutSeconds: number;
  /**
   * Per-client rate limit of the data endpoints (OCI API, `/acr/v1/`, token endpoints): this
   * many requests per `rateLimitWindowSeconds` from one client address, then 429 with
   * Retry-After.
   */
  rateLimitRequests: number;
  rateLimitWindowSeconds: number;
  /**
   * More `HOST:PORT` names clients reach the data endpoint by (a load balancer in front of the
   * replicas): the default registry answers on them as on the listener's own address.
   */
  advertisedHosts: string[];
  /**
   * Where metadata lives: empty = the embedded SQLite file under `data`; `postgres://...` = a
   * PostgreSQL database shared by every replica.
   */
  metadataUrl: string;
  /**
   * Where blobs live: empty = files under `data`; `azure://<container>` = a container in Azure
   * Blob Storage (or Azurite) shared by every replica, reached with `storageConnectionString`.
   */
  storage: string;
  /** Azure Storage connection string for `azure://` storage (keep it in the environment). */
  storageConnectionString: string;
  /** For `s3://` storage: an S3-compatible service's URL; empty = AWS S3. */
  s3Endpoint: string;
  /** For `s3://` storage: the bucket's region. */
  s3Region: string;
  /**
   * The source address the platform's own services (tasks, import, scanning, container
   * instances, ML) connect from when they reach a registry's data endpoint; empty = the
   * operating system's choice. Firewall rules judge them by it, like any client.
   */
  serviceSourceAddress: string;
  /** Longest a task run may take before it is stopped and marked Failed (ACR: 3600). */
  taskTimeoutSeconds: number;
  /** How often the scanner checks whether its vulnerability database changed (then re-scans). */
  scannerDatabasePollSeconds: number;
  /**
   * This process's name among the replicas; empty = `<hostname>:<pid>` (`embedded` on SQLite,
   * which one process uses at a time). Give each replica a name it keeps across restarts (a pod
   * name) and a restarted replica ends the work it left at once instead of after their lease
   * expires.
   */
  instanceName: string;
  /**
   * How long a replica's claim on its long-running work (task runs, ML jobs, container groups)
   * lasts unless renewed (every third of it): a stopped replica's work is ended by the others
   * within about one and a half of it.
   */
  workLeaseSeconds: number;
}

export const DEFAULT_CONFIG: BreakwaterConfig = {
  data: './.breakwater',
  listen: '127.0.0.1:5000',
  loginServerSuffix: 'azurecr.localhost',
  logLevel: 'info',
  maxManifestBytes: 4 * 1024 * 1024,
  uploadExpiryHours: 24,
  auditRetentionDays: 30,
  gcIntervalMinutes: 60,
  gcGraceMinutes: 24 * 60,
  managementListen: '127.0.0.1:8443',
  managementUrl: '',
  tlsCert: '',
  tlsKey: '',
  dataTls: false,
  armAudience: 'https://management.local/',
  location: 'local',
  trustedProxies: [],
  idleTimeoutSeconds: 120,
  headersTimeoutSeconds: 30,
  // Generous: 10,000 requests a second from one address, sustained.
  rateLimitRequests: 100_000,
  rateLimitWindowSeconds: 10,
  advertisedHosts: [],
  metadataUrl: '',
  storage: '',
  storageConnectionString: '',
  s3Endpoint: '',
  s3Region: 'us-east-1',
  serviceSourceAddress: '',
  taskTimeoutSeconds: 3600,
  scannerDatabasePollSeconds: 60,
  instanceName: '',
  workLeaseSeconds: 30,
};

type Kind = 'string' | 'optionalString' | 'number' | 'logLevel' | 'boolean' | 'list' | 'hostList';

/** Every setting: its type and environment variable. The file uses the same keys. */
const SCHEMA: Record<keyof BreakwaterConfig, { kind: Kind; env: string }> = {
  data: { kind: 'string', env: 'BREAKWATER_DATA' },
  listen: { kind: 'string', env: 'BREAKWATER_LISTEN' },
  loginServerSuffix: { kind: 'string', env: 'BREAKWATER_LOGIN_SERVER_SUFFIX' },
  logLevel: { kind: 'logLevel', env: 'BREAKWATER_LOG_LEVEL' },
  maxManifestBytes: { kind: 'number', env: 'BREAKWATER_MAX_MANIFEST_BYTES' },
  uploadExpiryHours: { kind: 'number', env: 'BREAKWATER_UPLOAD_EXPIRY_HOURS' },
  auditRetentionDays: { kind: 'number', env: 'BREAKWATER_AUDIT_RETENTION_DAYS' },
  gcIntervalMinutes: { kind: 'number', env: 'BREAKWATER_GC_INTERVAL_MINUTES' },
  gcGraceMinutes: { kind: 'number', env: 'BREAKWATER_GC_GRACE_MINUTES' },
  managementListen: { kind: 'string', env: 'BREAKWATER_MANAGEMENT_LISTEN' },
  managementUrl: { kind: 'optionalString', env: 'BREAKWATER_MANAGEMENT_URL' },
  tlsCert: { kind: 'optionalString', env: 'BREAKWATER_TLS_CERT' },
  tlsKey: { kind: 'optionalString', env: 'BREAKWATER_TLS_KEY' },
  dataTls: { kind: 'boolean', env: 'BREAKWATER_DATA_TLS' },
  armAudience: { kind: 'string', env: 'BREAKWATER_ARM_AUDIENCE' },
  location: { kind: 'string', env: 'BREAKWATER_LOCATION' },
  trustedProxies: { kind: 'list', env: 'BREAKWATER_TRUSTED_PROXIES' },
  idleTimeoutSeconds: { kind: 'number', env: 'BREAKWATER_IDLE_TIMEOUT_SECONDS' },
  headersTimeoutSeconds: { kind: 'number', env: 'BREAKWATER_HEADERS_TIMEOUT_SECONDS' },
  rateLimitRequests: { kind: 'number', env: 'BREAKWATER_RATE_LIMIT_REQUESTS' },
  rateLimitWindowSeconds: { kind: 'number', env: 'BREAKWATER_RATE_LIMIT_WINDOW_SECONDS' },
  advertisedHosts: { kind: 'hostList', env: 'BREAKWATER_ADVERTISED_HOSTS' },
  metadataUrl: { kind: 'optionalString', env: 'BREAKWATER_METADATA_URL' },
  storage: { kind: 'optionalString', env: 'BREAKWATER_STORAGE' },
  storageConnectionString: {
    kind: 'optionalString',
    env: 'BREAKWATER_STORAGE_CONNECTION_STRING',
  },
  s3Endpoint: { kind: 'optionalString', env: 'BREAKWATER_S3_ENDPOINT' },
  s3Region: { kind: 'string', env: 'BREAKWATER_S3_REGION' },
  serviceSourceAddress: { kind: 'optionalString', env: 'BREAKWATER_SERVICE_SOURCE_ADDRESS' },
  taskTimeoutSeconds: { kind: 'number', env: 'BREAKWATER_TASK_TIMEOUT_SECONDS' },
  scannerDatabasePollSeconds: { kind: 'number', env: 'BREAKWATER_SCANNER_DATABASE_POLL_SECONDS' },
  instanceName: { kind: 'optionalString', env: 'BREAKWATER_INSTANCE_NAME' },
  workLeaseSeconds: { kind: 'number', env: 'BREAKWATER_WORK_LEASE_SECONDS' },
};

export const CONFIG_FILE_ENV = 'BREAKWATER_CONFIG';

const LOG_LEVELS: readonly string[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function coerce(key: string, kind: Kind, value: unknown, source: string): unknown {
  if (kind === 'number') {
    const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isFinite(number) || number <= 0) {
      throw new ConfigError(`${source}: '${key}' must be a positive number`);
    }
    return number;
  }
  if (kind === 'list' || kind === 'hostList') {
    // A JSON array in files; comma-separated in the environment and on the command line.
    const items = Array.isArray(value)
      ? value
      : typeof value === 'string'
        ? value.split(',')
        : undefined;
    if (!items || !items.every((item) => typeof item === 'string')) {
      throw new ConfigError(`${source}: '${key}' must be a list of strings`);
    }
    const list = items.map((item: string) => item.trim()).filter(Boolean);
    if (kind === 'hostList') {
      for (const item of list) parseListenAddress(item);
      return list;
    }
    for (const item of list) {
      if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(item)) {
        throw new ConfigError(
          `${source}: '${key}' entry '${item}' is not an address or CIDR range`,
        );
      }
    }
    return list;
  }
  if (kind === 'boolean') {
    const text = String(value).toLowerCase();
    if (!['true', 'false'].includes(text))
      throw new ConfigError(`${source}: '${key}' must be true or false`);
    return text === 'true';
  }
  if (kind === 'optionalString') {
    if (typeof value !== 'string') throw new ConfigError(`${source}: '${key}' must be a string`);
    return value;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(`${source}: '${key}' must be a non-empty string`);
  }
  if (kind === 'logLevel' && !LOG_LEVELS.includes(value)) {
    throw new ConfigError(`${source}: '${key}' must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return value;
}

function apply(
  target: Record<string, unknown>,
  values: Record<string, unknown>,
  source: string,
): void {
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const setting = SCHEMA[key as keyof BreakwaterConfig];
    if (!setting) throw new ConfigError(`${source}: unknown setting '${key}'`);
    target[key] = coerce(key, setting.kind, value, source);
  }
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

export interface ConfigSources {
  /** Flags given on the command line (undefined = not given). */
  flags?: Partial<
    Record<keyof BreakwaterConfig, string | number | boolean | string[] | undefined>
  > & {
    config?: string | undefined;
  };
  env?: NodeJS.ProcessEnv;
}

/** Builds the effective configuration; throws ConfigError naming the bad source. */
export function loadConfig({
  flags = {},
  env = process.env,
}: ConfigSources = {}): BreakwaterConfig {
  const config: Record<string, unknown> = { ...DEFAULT_CONFIG };
  const { config: configFlag, ...settingFlags } = flags;
  const file = configFlag ?? env[CONFIG_FILE_ENV];
  if (file) apply(config, readConfigFile(file), `config file ${file}`);
  const fromEnv: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SCHEMA)) fromEnv[key] = env[setting.env] || undefined;
  apply(config, fromEnv, 'environment');
  apply(config, settingFlags, 'command line');
  const result = config as unknown as BreakwaterConfig;
  parseListenAddress(result.listen);
  parseListenAddress(result.managementListen);
  if (result.metadataUrl && !/^postgres(ql)?:\/\//i.test(result.metadataUrl)) {
    throw new ConfigError(`'metadataUrl' must be a postgres:// URL, or empty for SQLite`);
  }
  checkStorage(result);
  if (Boolean(result.tlsCert) !== Boolean(result.tlsKey)) {
    throw new ConfigError('tlsCert and tlsKey must be given together');
  }
  // An empty managementUrl is derived from the bound address at start (the port may be 0).
  return {
    ...result,
    data: resolve(result.data),
    managementUrl: result.managementUrl.replace(/\/+$/, ''),
  };
}

/** Azure container names: 3-63 lowercase letters, digits and single hyphens. */
const AZURE_CONTAINER = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;

/** S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens. */
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function checkStorage(config: BreakwaterConfig): void {
  if (!config.storage) return;
  const s3 = /^s3:\/\/(.*)$/.exec(config.storage);
  if (s3) {
    if (!S3_BUCKET.test(s3[1]!)) {
      throw new ConfigError(`'storage' bucket '${s3[1]}' is not a valid S3 bucket name`);
    }
    if (config.s3Endpoint && !/^https?:\/\//.test(config.s3Endpoint)) {
      throw new ConfigError(`'s3Endpoint' must be an http:// or https:// URL`);
    }
    return;
  }
  const azure = /^azure:\/\/(.*)$/.exec(config.storage);
  if (!azure) {
    throw new ConfigError(
      `'storage' must be azure://<container> or s3://<bucket>, or empty for the data directory`,
    );
  }
  if (!AZURE_CONTAINER.test(azure[1]!)) {
    throw new ConfigError(`'storage' container '${azure[1]}' is not a valid Azure container name`);
  }
  if (!config.storageConnectionString) {
    throw new ConfigError(`'storage' ${config.storage} needs 'storageConnectionString'`);
  }
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT` or `[IPV6]:PORT`; port 0 picks a free port. */
export function parseListenAddress(value: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new ConfigError(`listen address '${value}' must be HOST:PORT, e.g. 127.0.0.1:5000`);
  }
  return { host: (match[1] ?? match[2])!, port };
}
