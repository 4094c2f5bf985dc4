/**
 * The portal's only ways out: the identity service's token endpoint (client credentials) and the
 * management API (ARM), both on the origin that served the page. Failures become ApiError with
 * the server's own words (ARM `error.message`, the identity service's `error_description`).
 */

export const REGISTRY_API = '2025-11-01';
export const AUTHORIZATION_API = '2022-04-01';
export const RESOURCES_API = '2022-12-01';
export const TASKS_API = '2019-06-01-preview';
export const CONTAINER_INSTANCE_API = '2023-05-01';
export const ML_API = '2024-04-01';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface Session {
  token: string;
  clientId: string;
  tenantId: string;
  expiresAt: number;
}

const SESSION_KEY = 'breakwater.portal.session';

/** Kept in sessionStorage: closing the tab signs out; the secret itself is never stored. */
export function loadSession(): Session | undefined {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') as Session | null;
    return session && session.expiresAt > Date.now() ? session : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session | undefined): void {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

async function readError(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as {
      error?: { code?: string; message?: string } | string;
      error_description?: string;
    };
    if (typeof body.error_description === 'string')
      return new ApiError(body.error_description, response.status, String(body.error));
    if (typeof body.error === 'object' && body.error?.message)
      return new ApiError(body.error.message, response.status, body.error.code);
  } catch {
    // not JSON: fall through to the status line
  }
  return new ApiError(
    `The server answered ${response.status} ${response.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`,
    response.status,
  );
}

async function fetchOrExplain(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    throw new ApiError('The management server cannot be reached. Is it running?', 0);
  }
}

/** Signs in a service principal: client credentials for the ARM audience the cloud names. */
export async function signIn(
  clientId: string,
  clientSecret: string,
  tenantId: string,
): Promise<Session> {
  const metadata = await fetchOrExplain('/metadata/endpoints?api-version=2022-09-01', {});
  const cloud = (await metadata.json()) as { authentication?: { audiences?: string[] } };
  const audience = (
    cloud.authentication?.audiences?.[0] ?? 'https://management.azure.com/'
  ).replace(/\/+$/, '');
  const tenantPath = tenantId.trim() ? encodeURIComponent(tenantId.trim()) : 'adfs';
  const response = await fetchOrExplain(`/${tenantPath}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId.trim(),
      client_secret: clientSecret,
      scope: `${audience}/.default`,
    }),
  });
  if (!response.ok) throw await readError(response);
  const body = (await response.json()) as { access_token: string; expires_in?: number };
  const claims = JSON.parse(
    atob(body.access_token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')),
  ) as { tid?: string };
  return {
    token: body.access_token,
    clientId: clientId.trim(),
    tenantId: claims.tid ?? tenantId,
    expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000 - 60_000,
  };
}

type Listener = () => void;
let onSignedOut: Listener = () => {};
export function whenSignedOut(listener: Listener): void {
  onSignedOut = listener;
}

/** One ARM call with the session's token; a 401 ends the session. */
export async function arm<T>(
  method: string,
  path: string,
  apiVersion: string = REGISTRY_API,
  body?: unknown,
): Promise<T> {
  const session = loadSession();
  if (!session) {
    onSignedOut();
    throw new ApiError('Your session has ended. Sign in again.', 401);
  }
  const separator = path.includes('?') ? '&' : '?';
  const response = await fetchOrExplain(`${path}${separator}api-version=${apiVersion}`, {
    method,
    headers: {
      authorization: `Bearer ${session.token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (response.status === 401) {
    saveSession(undefined);
    onSignedOut();
  }
  if (!response.ok) throw await readError(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** An ARM call whose answer is text (a run's log), with the response headers. */
export async function armText(
  path: string,
  apiVersion: string,
): Promise<{ text: string; headers: Headers }> {
  const session = loadSession();
  if (!session) {
    onSignedOut();
    throw new ApiError('Your session has ended. Sign in again.', 401);
  }
  const separator = path.includes('?') ? '&' : '?';
  const response = await fetchOrExplain(`${path}${separator}api-version=${apiVersion}`, {
    headers: { authorization: `Bearer ${session.token}` },
  });
  if (!response.ok) throw await readError(response);
  return { text: await response.text(), headers: response.headers };
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// Resource shapes the portal reads (the parts it shows).

export interface IpRule {
  action: string;
  value: string;
}

export interface ArmIdentity {
  type: string;
  principalId?: string;
  userAssignedIdentities?: Record<string, { principalId: string; clientId: string }>;
}

export interface Registry {
  id: string;
  name: string;
  location: string;
  sku: { name: string };
  identity?: ArmIdentity;
  properties: {
    loginServer: string;
    creationDate: string;
    provisioningState: string;
    adminUserEnabled: boolean;
    publicNetworkAccess: 'Enabled' | 'Disabled';
    networkRuleBypassOptions: 'AzureServices' | 'None';
    networkRuleBypassAllowedForTasks?: boolean;
    networkRuleSet?: { defaultAction: 'Allow' | 'Deny'; ipRules: IpRule[] };
    privateEndpointConnections?: PrivateEndpointConnection[];
  };
}

export interface PrivateEndpointConnection {
  id: string;
  name: string;
  properties: {
    privateEndpoint?: { id: string };
    privateLinkServiceConnectionState: { status: string; description?: string };
    provisioningState?: string;
  };
}

export interface Repository {
  name: string;
  createdTime: string;
  lastUpdateTime: string;
  manifestCount: number;
  tagCount: number;
}

export interface ManifestSummary {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  tags: string[];
  createdTime: string;
  manifestSize: number;
  imageSize: number;
  subject: string | null;
  referrers: { digest: string; artifactType: string | null; mediaType: string; size: number }[];
}

export type Severity = 'Critical' | 'High' | 'Medium' | 'Low' | 'Unknown';
export const SEVERITIES: Severity[] = ['Critical', 'High', 'Medium', 'Low', 'Unknown'];

/** One manifest digest's latest scan (`scanResults`; docs/scanner.md, "Results"). */
export interface ScanResult {
  repository: string;
  digest: string;
  status: 'Queued' | 'Succeeded' | 'Failed';
  reason?: string;
  scannedAt: string;
  trigger: string;
  os?: { id: string; versionId?: string };
  packageCount?: number;
  summary: Record<Severity, number> & { total: number };
  findings: {
    id: string;
    aliases: string[];
    summary?: string;
    severity: Severity;
    cvssScore?: number;
    package: {
      ecosystem: string;
      name: string;
      installedVersion: string;
      fixedVersion?: string;
    };
  }[];
}

export interface AccessDecision {
  id: string;
  time: string;
  registry: string;
  result: 'allowed' | 'refused';
  reason: string;
  source?: string;
  door?: string;
  operation?: string;
  requirement?: string;
  principal?: string;
  principalKind?: string;
  status?: number;
}

/** A resource as the subscription's generic list shows it (`/subscriptions/{s}/resources`). */
export interface ListedResource {
  id: string;
  name: string;
  type: string;
  location?: string;
  identity?: ArmIdentity;
}

/** Every resource of `type` in the principal's subscriptions that it may read. */
export async function listResourcesOfType(type: string): Promise<ListedResource[]> {
  const subscriptions = await arm<{ value: { subscriptionId: string }[] }>(
    'GET',
    '/subscriptions',
    RESOURCES_API,
  );
  const listed: ListedResource[] = [];
  for (const { subscriptionId } of subscriptions.value) {
    const filter = encodeURIComponent(`resourceType eq '${type}'`);
    const { value } = await arm<{ value: ListedResource[] }>(
      'GET',
      `/subscriptions/${subscriptionId}/resources?$filter=${filter}`,
      RESOURCES_API,
    );
    listed.push(...value);
  }
  return listed.sort((a, b) => a.name.localeCompare(b.name));
}

/** The resource group named in a resource id. */
export function groupOf(id: string): string {
  return /\/resourceGroups\/([^/]+)/i.exec(id)?.[1] ?? '';
}

/** `/subscriptions/{s}/resourceGroups/{g}/providers/.../registries/{name}` from its parts. */
export function registryPath(subscription: string, group: string, name: string): string {
  return `/subscriptions/${encodeURIComponent(subscription)}/resourceGroups/${encodeURIComponent(group)}/providers/Microsoft.ContainerRegistry/registries/${encodeURIComponent(name)}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
