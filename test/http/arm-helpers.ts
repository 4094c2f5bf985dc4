/**
 * Helpers for the auth and management HTTP tests: ARM paths of the bootstrap resources, role
 * assignments through the ARM API, identity-service tokens, the registry's token endpoints, and
 * JWT inspection. Everything goes through `inject`, as a client would send it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { createTestApp, OCI_MANIFEST, sha256, type TestApp } from '../support/app.js';

export const LOGIN_SERVER = 'myregistry.azurecr.localhost';
export const ARM_SCOPE = 'https://management.local/.default';
export const ACR_SCOPE = 'https://containerregistry.azure.net/.default';
export const ACR_AUDIENCE = 'https://containerregistry.azure.net';
export const NULL_GUID = '00000000-0000-0000-0000-000000000000';
export const REGISTRY_API = '2023-07-01';
export const AUTHORIZATION_API = '2020-04-01-preview';

/** Real Azure built-in role ids (acr-reference.md section 5). */
export const ROLE_IDS = {
  Owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  Contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
  AcrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
  AcrPush: '8311e382-0749-4cb8-b61a-304f252e45ec',
  AcrDelete: 'c2f4ef07-c644-48eb-af81-4b1b4947fb11',
  AcrImageSigner: '6cef56e8-d556-48e5-a04f-b8e64114680f',
  AcrQuarantineReader: 'cdda3590-29a3-44f6-95f2-9f980659eb04',
  AcrQuarantineWriter: 'c8d4ff99-41c3-41a8-9f60-21dfdad59608',
  'Container Registry Repository Reader': 'b93aa761-3e63-49ed-ac28-beffa264f7ac',
  'Container Registry Repository Writer': '41e95607-eb55-4a7f-8412-1b7d4b4e6ed6',
  'Container Registry Repository Contributor': '2efddaa5-3f1f-4df3-97df-af3f13818f4c',
  'Container Registry Repository Catalog Lister': 'bfdb9389-c9a5-478a-bb2f-ba9ca092c3c7',
  'Container Registry Data Importer and Data Reader': '577a9874-89fd-4f24-9dbd-b5034d0ad23a',
  'Container Registry Tasks Contributor': 'fb382eab-e894-4461-af04-94435c366c3f',
  'Container Registry Configuration Reader and Data Access Configuration Reader':
    '69b07be0-09bf-439a-b9a6-e73de851bd59',
  'Container Registry Contributor and Data Access Configuration Administrator':
    '3bc748fc-213d-45c1-8d91-9da5725539b9',
} as const;

export type RoleName = keyof typeof ROLE_IDS;

export function subscriptionScope(test: TestApp): string {
  return `/subscriptions/${test.owner.subscriptionId}`;
}

export function groupId(test: TestApp, group = 'breakwater'): string {
  return `${subscriptionScope(test)}/resourceGroups/${group}`;
}

export function registryId(test: TestApp, name = 'myregistry', group = 'breakwater'): string {
  return `${groupId(test, group)}/providers/Microsoft.ContainerRegistry/registries/${name}`;
}

/** Subscription-scoped role definition id, the form ARM returns and the CLI sends. */
export function roleDefinitionId(test: TestApp, role: RoleName): string {
  return `${subscriptionScope(test)}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS[role]}`;
}

export function json<T = Record<string, unknown>>(response: LightMyRequestResponse): T {
  return JSON.parse(response.body) as T;
}

export function armError(response: LightMyRequestResponse): { code?: string; message?: string } {
  try {
    return (json<{ error?: { code?: string; message?: string } }>(response).error ?? {}) as {
      code?: string;
      message?: string;
    };
  } catch {
    return {};
  }
}

export function errorMessage(response: LightMyRequestResponse): string | undefined {
  try {
    return json<{ errors: { message: string }[] }>(response).errors[0]?.message;
  } catch {
    return undefined;
  }
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Header and payload of a JWT, decoded without verifying anything. */
export function decodeJwt(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  const [header, payload] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >,
    payload: JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >,
  };
}

/** An unsigned token (`alg: none`) with the given payload and extra header fields. */
export function unsignedJwt(
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  return `${base64url({ alg: 'none', typ: 'JWT', ...header })}.${base64url(payload)}.`;
}

/** Form-encoded POST body. */
export function form(fields: Record<string, string>): {
  headers: Record<string, string>;
  payload: string;
} {
  return {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(fields).toString(),
  };
}

/** The client-credentials grant against the identity service, as MSAL sends it. */
export async function clientCredentials(
  test: TestApp,
  clientId: string,
  clientSecret: string,
  scope: string,
  tenant = test.owner.tenantId,
): Promise<LightMyRequestResponse> {
  const body = form({
    client_id: clientId,
    grant_type: 'client_credentials',
    client_info: '1',
    client_secret: clientSecret,
    scope,
  });
  return test.management.inject({
    method: 'POST',
    url: `/${tenant}/oauth2/v2.0/token`,
    headers: body.headers,
    payload: body.payload,
  });
}

/** An identity-service access token; throws when the grant fails. */
export async function identityToken(
  test: TestApp,
  clientId: string,
  clientSecret: string,
  scope: string,
): Promise<string> {
  const response = await clientCredentials(test, clientId, clientSecret, scope);
  if (response.statusCode !== 200) throw new Error(`client credentials failed: ${response.body}`);
  return json<{ access_token: string }>(response).access_token;
}

/** `POST /oauth2/exchange` as `az acr login` sends it. */
export async function exchange(
  test: TestApp,
  accessToken: string,
  options: { tenant?: string; host?: string; service?: string } = {},
): Promise<LightMyRequestResponse> {
  const body = form({
    grant_type: 'access_token',
    service: options.service ?? LOGIN_SERVER,
    tenant: options.tenant ?? test.owner.tenantId,
    access_token: accessToken,
  });
  return test.request({
    method: 'POST',
    url: '/oauth2/exchange',
    auth: false,
    headers: { ...body.headers, ...(options.host ? { host: options.host } : {}) },
    payload: body.payload,
  });
}

/** Exchanges an identity token for a registry refresh token; throws when refused. */
export async function refreshTokenFor(test: TestApp, accessToken: string): Promise<string> {
  const response = await exchange(test, accessToken);
  if (response.statusCode !== 200) throw new Error(`exchange failed: ${response.body}`);
  return json<{ refresh_token: string }>(response).refresh_token;
}

/** `GET /oauth2/token` with the given Authorization header (or none) and scopes. */
export async function basicToken(
  test: TestApp,
  authorization: string | false,
  scopes: string[],
  host?: string,
): Promise<LightMyRequestResponse> {
  const query = new URLSearchParams({ service: host ?? LOGIN_SERVER });
  for (const scope of scopes) query.append('scope', scope);
  return test.request({
    method: 'GET',
    url: `/oauth2/token?${query.toString()}`,
    auth: authorization,
    ...(host ? { headers: { host } } : {}),
  });
}

/** `POST /oauth2/token` with a registry refresh token. */
export async function refreshGrant(
  test: TestApp,
  refreshToken: string,
  scopes: string[],
): Promise<LightMyRequestResponse> {
  const params = new URLSearchParams({
    grant_type: 'refresh_token',
    service: LOGIN_SERVER,
    refresh_token: refreshToken,
  });
  for (const scope of scopes) params.append('scope', scope);
  return test.request({
    method: 'POST',
    url: '/oauth2/token',
    auth: false,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: params.toString(),
  });
}

export function accessTokenOf(response: LightMyRequestResponse): string {
  if (response.statusCode !== 200) throw new Error(`token request failed: ${response.body}`);
  return json<{ access_token: string }>(response).access_token;
}

/** Creates a role assignment through the ARM API under a fresh GUID. */
export async function assignRole(
  test: TestApp,
  scope: string,
  principalId: string,
  role: RoleName,
  extra: Record<string, unknown> = {},
): Promise<{ response: LightMyRequestResponse; name: string; id: string }> {
  const name = randomUUID();
  const id = `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`;
  const response = await test.arm({
    method: 'PUT',
    url: `${id}?api-version=${AUTHORIZATION_API}`,
    payload: {
      properties: {
        roleDefinitionId: roleDefinitionId(test, role),
        principalId,
        principalType: 'ServicePrincipal',
        ...extra,
      },
    },
  });
  return { response, name, id };
}

export async function deleteAssignment(test: TestApp, id: string): Promise<LightMyRequestResponse> {
  return test.arm({ method: 'DELETE', url: `${id}?api-version=${AUTHORIZATION_API}` });
}

/** PATCHes registry properties (as `az acr update` does) and returns the response. */
export async function patchRegistry(
  test: TestApp,
  properties: Record<string, unknown>,
  name = 'myregistry',
  apiVersion = REGISTRY_API,
): Promise<LightMyRequestResponse> {
  return test.arm({
    method: 'PATCH',
    url: `${registryId(test, name)}?api-version=${apiVersion}`,
    payload: { properties },
  });
}

export interface ServicePrincipal {
  objectId: string;
  appId: string;
  secret: string;
  secretId: string;
}

export async function newServicePrincipal(test: TestApp, name: string): Promise<ServicePrincipal> {
  const { principal, secret, secretId } = await test.platform.identity.createServicePrincipal(
    test.owner.tenantId,
    name,
  );
  return { objectId: principal.objectId, appId: principal.appId, secret, secretId };
}

/**
 * Pushes a config, a layer and a tagged manifest with `auth` (default: the owner's Basic). Returns
 * the first response that failed, or the manifest PUT's response, and the manifest digest.
 */
export async function pushImageAs(
  test: TestApp,
  auth: string | false | undefined,
  repository: string,
  tag: string,
): Promise<{ response: LightMyRequestResponse; digest: string }> {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomUUID() }),
  );
  const layer = randomBytes(600);
  for (const bytes of [config, layer]) {
    const response = await test.request({
      method: 'POST',
      url: `/v2/${repository}/blobs/uploads/?digest=${sha256(bytes)}`,
      ...(auth === undefined ? {} : { auth }),
      headers: { 'content-type': 'application/octet-stream' },
      payload: bytes,
    });
    if (response.statusCode !== 201) return { response, digest: '' };
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: sha256(layer),
          size: layer.length,
        },
      ],
    }),
  );
  const response = await test.request({
    method: 'PUT',
    url: `/v2/${repository}/manifests/${tag}`,
    ...(auth === undefined ? {} : { auth }),
    headers: { 'content-type': OCI_MANIFEST },
    payload: manifest,
  });
  return { response, digest: sha256(manifest) };
}

/** Pushes an image with the owner's credentials and tags it; returns the manifest digest. */
export async function pushImage(test: TestApp, repository: string, tag: string): Promise<string> {
  const { response, digest } = await pushImageAs(test, undefined, repository, tag);
  if (response.statusCode !== 201) throw new Error(`push failed: ${response.body}`);
  return digest;
}

/** GET of a manifest with `auth` (false: no credentials). */
export async function getManifest(
  test: TestApp,
  auth: string | false,
  repository: string,
  reference: string,
): Promise<LightMyRequestResponse> {
  return test.request({
    method: 'GET',
    url: `/v2/${repository}/manifests/${reference}`,
    auth,
    headers: { accept: OCI_MANIFEST },
  });
}

/** One platform for the enclosing describe block: created before its tests, closed after. */
export function withApp(): () => TestApp {
  let test: TestApp | undefined;
  beforeAll(async () => {
    test = await createTestApp();
  });
  afterAll(async () => {
    await test?.close();
  });
  return () => {
    if (!test) throw new Error('the test platform is not ready');
    return test;
  };
}
