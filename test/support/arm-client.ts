/**
 * @module test/support/arm-client
 * A small HTTPS client for a spawned server's management listener, trusting the server's own CA
 * (as a user would with NODE_EXTRA_CA_CERTS), authenticated as a service principal through the
 * identity service's client-credentials grant.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { RunningServer } from './server.js';

export interface ArmResponse {
  status: number;
  body: unknown;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export class ArmClient {
  private token: string | undefined;
  private readonly ca: string;

  constructor(
    /** Where the management listener is, its CA, and the owner: a spawned or in-process server. */
    private readonly server: Pick<RunningServer, 'managementUrl' | 'caPath' | 'owner'>,
    private readonly clientId = server.owner.clientId,
    private readonly clientSecret = server.owner.clientSecret,
  ) {
    this.ca = readFileSync(server.caPath, 'utf8');
  }

  /** A raw HTTPS request to the management listener. */
  send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ArmResponse> {
    const url = new URL(path, this.server.managementUrl);
    // Bytes go as they are (an upload), strings as given, anything else as JSON.
    const payload =
      body === undefined || typeof body === 'string' || Buffer.isBuffer(body)
        ? body
        : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this.ca,
          headers: {
            ...(Buffer.isBuffer(body)
              ? { 'content-type': 'application/octet-stream' }
              : payload !== undefined && typeof body !== 'string'
                ? { 'content-type': 'application/json' }
                : {}),
            ...headers,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async accessToken(scope = 'https://management.local/.default'): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.clientId,
      client_secret: this.clientSecret,
      scope,
    });
    const response = await this.send(
      'POST',
      `/${this.server.owner.tenantId}/oauth2/v2.0/token`,
      form.toString(),
      {
        'content-type': 'application/x-www-form-urlencoded',
      },
    );
    if (response.status !== 200) throw new Error(`token request failed: ${response.text}`);
    return (response.body as { access_token: string }).access_token;
  }

  /** An ARM call with the principal's bearer token. */
  async arm(method: string, path: string, body?: unknown): Promise<ArmResponse> {
    this.token ??= await this.accessToken();
    return this.send(method, path, body, { authorization: `Bearer ${this.token}` });
  }

  registryId(name = 'myregistry'): string {
    return `/subscriptions/${this.server.owner.subscriptionId}/resourceGroups/breakwater/providers/Microsoft.ContainerRegistry/registries/${name}`;
  }
}
