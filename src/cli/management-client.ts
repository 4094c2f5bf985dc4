/**
 * @module cli/management-client
 * HTTP for the CLI: the management API (ARM and the identity service, HTTPS verified against the
 * profile's CA file) and the data endpoint (HTTP or HTTPS per endpoints.json `dataTls`).
 * Failures become CliError with ARM's `message`, the identity service's `error_description`, or
 * a readable sentence for a network error.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CliError, networkErrorMessage } from './errors.js';
import type { Profile } from './profile.js';

export const REGISTRY_API_VERSION = '2025-11-01';
export const RESOURCES_API_VERSION = '2022-12-01';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): unknown;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** PEM text of the CA to trust for https. */
  ca?: string;
}

export async function send(req: HttpRequest): Promise<HttpResponse> {
  const url = new URL(req.url);
  const secure = url.protocol === 'https:';
  const headers: Record<string, string> = { ...req.headers };
  if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
  return new Promise((resolveResponse, reject) => {
    const options = {
      method: req.method,
      headers,
      ...(secure && req.ca ? { ca: req.ca } : {}),
      // With a Host header naming something else (a login server), still verify the
      // certificate against the address we connected to.
      ...(secure ? { servername: url.hostname.match(/^[\d.]+$|:/) ? '' : url.hostname } : {}),
      timeout: 30_000,
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolveResponse({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json() {
            try {
              return JSON.parse(text) as unknown;
            } catch {
              return undefined;
            }
          },
        });
      });
    };
    const r = secure
      ? httpsRequest(url, options, onResponse)
      : httpRequest(url, options, onResponse);
    r.on('timeout', () => r.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    r.on('error', (error) => reject(new CliError(networkErrorMessage(error, url.host))));
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

export function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

function readCa(caPath: string | undefined): string | undefined {
  if (!caPath) return undefined;
  try {
    return readFileSync(caPath, 'utf8');
  } catch {
    throw new CliError(`Cannot read the CA file '${caPath}'.`);
  }
}

/** An error body from ARM (`error.message`) or the identity service (`error_description`). */
export function errorMessage(response: HttpResponse): string {
  const body = response.json() as
    | { error?: { message?: string } | string; error_description?: string; message?: string }
    | undefined;
  if (body && typeof body.error_description === 'string') return body.error_description;
  if (body && typeof body.error === 'object' && body.error?.message) return body.error.message;
  if (body && typeof body.message === 'string') return body.message;
  return `The server answered ${response.status}${response.text ? `: ${response.text.slice(0, 200)}` : ''}`;
}

export interface ManagementTarget {
  managementUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  caPath?: string;
}

export class ManagementClient {
  private token?: string;
  private audience?: string;
  private readonly ca: string | undefined;
  private readonly base: string;

  constructor(private readonly target: ManagementTarget) {
    this.ca = readCa(target.caPath);
    this.base = target.managementUrl.replace(/\/+$/, '');
  }

  static fromProfile(profile: Profile): ManagementClient {
    return new ManagementClient(profile);
  }

  get caPem(): string | undefined {
    return this.ca;
  }

  /** The ARM audience the cloud metadata names (az takes it from the cloud's endpoints). */
  async armAudience(): Promise<string> {
    if (this.audience) return this.audience;
    const response = await send({
      method: 'GET',
      url: `${this.base}/metadata/endpoints?api-version=2022-09-01`,
      ca: this.ca,
    });
    const body = response.json() as { authentication?: { audiences?: string[] } } | undefined;
    this.audience = body?.authentication?.audiences?.[0] ?? 'https://management.azure.com/';
    return this.audience;
  }

  /** An identity-service access token for the ARM audience (client credentials). */
  async accessToken(): Promise<string> {
    if (this.token) return this.token;
    const audience = (await this.armAudience()).replace(/\/+$/, '');
    const response = await send({
      method: 'POST',
      url: `${this.base}/${encodeURIComponent(this.target.tenantId)}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({
        grant_type: 'client_credentials',
        client_id: this.target.clientId,
        client_secret: this.target.clientSecret,
        scope: `${audience}/.default`,
      }),
      ca: this.ca,
    });
    const body = response.json() as { access_token?: string } | undefined;
    if (response.status !== 200 || !body?.access_token) {
      throw new CliError(errorMessage(response));
    }
    this.token = body.access_token;
    return this.token;
  }

  /** One ARM call; a non-2xx answer throws with ARM's message. */
  async arm<T = unknown>(
    method: string,
    path: string,
    apiVersion: string,
    body?: unknown,
  ): Promise<T> {
    const response = await this.armRaw(method, path, apiVersion, body);
    if (response.status < 200 || response.status >= 300) {
      throw new CliError(errorMessage(response));
    }
    return (response.text ? response.json() : undefined) as T;
  }

  /** PUTs a stream (a build context) to an upload URL the server handed out. */
  async upload(url: string, body: Readable): Promise<void> {
    const token = await this.accessToken();
    const target = new URL(url);
    await new Promise<void>((resolveUpload, reject) => {
      const r = httpsRequest(
        target,
        {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/octet-stream',
            'x-ms-blob-type': 'BlockBlob',
          },
          ...(this.ca ? { ca: this.ca } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            if ((res.statusCode ?? 0) < 300) return resolveUpload();
            const text = Buffer.concat(chunks).toString('utf8');
            reject(
              new CliError(
                errorMessage({
                  status: res.statusCode ?? 0,
                  headers: res.headers,
                  text,
                  json: () => {
                    try {
                      return JSON.parse(text) as unknown;
                    } catch {
                      return undefined;
                    }
                  },
                }),
              ),
            );
          });
        },
      );
      r.on('error', (error) => reject(new CliError(networkErrorMessage(error, target.host))));
      pipeline(body, r).catch(reject);
    });
  }

  async armRaw(
    method: string,
    path: string,
    apiVersion: string,
    body?: unknown,
  ): Promise<HttpResponse> {
    const token = await this.accessToken();
    const separator = path.includes('?') ? '&' : '?';
    return send({
      method,
      url: `${this.base}${path}${separator}api-version=${apiVersion}`,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      ca: this.ca,
    });
  }
}

/** Where and how to reach a registry's data plane. */
export interface DataEndpoint {
  /** `http://127.0.0.1:5000`: the address actually connected to. */
  baseUrl: string;
  /** The Host header sent: the registry's login server. */
  host: string;
  ca?: string;
}

/**
 * The data endpoint for a login server. Breakwater's login servers (`<name>.azurecr.localhost`)
 * do not resolve, so the CLI connects to the server's data listener (endpoints.json `data`,
 * remembered in the profile) and names the registry in the Host header with its login server.
 * The login server rather than the listener's alias, because the server resolves
 * `<name>.<suffix>` for every registry while the alias belongs to the default registry only.
 * Without a known data endpoint the login server is contacted directly.
 */
export function dataEndpointFor(profile: Profile, loginServer: string, ca?: string): DataEndpoint {
  const scheme = profile.dataTls ? 'https' : 'http';
  const address = profile.dataEndpoint ?? loginServer;
  return { baseUrl: `${scheme}://${address}`, host: loginServer, ca };
}

export class DataPlaneClient {
  constructor(private readonly endpoint: DataEndpoint) {}

  get address(): string {
    return new URL(this.endpoint.baseUrl).host;
  }

  get baseUrl(): string {
    return this.endpoint.baseUrl;
  }

  request(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<HttpResponse> {
    return send({
      method,
      url: `${this.endpoint.baseUrl}${path}`,
      headers: { host: this.endpoint.host, ...headers },
      body,
      ca: this.endpoint.ca,
    });
  }

  /** `POST /oauth2/exchange`: an identity token for an ACR refresh token. */
  async exchange(accessToken: string, tenant: string): Promise<HttpResponse> {
    return this.request(
      'POST',
      '/oauth2/exchange',
      { 'content-type': 'application/x-www-form-urlencoded' },
      form({
        grant_type: 'access_token',
        service: this.endpoint.host,
        tenant,
        access_token: accessToken,
      }),
    );
  }

  /** `POST /oauth2/token`: a refresh token for an access token. */
  async token(refreshToken: string, scope: string): Promise<HttpResponse> {
    return this.request(
      'POST',
      '/oauth2/token',
      { 'content-type': 'application/x-www-form-urlencoded' },
      form({
        grant_type: 'refresh_token',
        service: this.endpoint.host,
        scope,
        refresh_token: refreshToken,
      }),
    );
  }
}

/** The data plane's `{"errors":[{code,message,detail}]}`, first entry. */
export function dataPlaneError(
  response: HttpResponse,
): { code?: string; message?: string; detail?: unknown } | undefined {
  const body = response.json() as
    { errors?: { code?: string; message?: string; detail?: unknown }[] } | undefined;
  return body?.errors?.[0];
}
