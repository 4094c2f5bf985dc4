/**
 * @module test/conformance/http
 * The small HTTP client the conformance suite needs, doing what the official suite's client (reggie)
 * does: requests relative to the registry root, Location headers reduced to their path and query
 * (`GetRelativeLocation`), extra query parameters merged into a session URL, redirects not followed.
 */

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Merged into the query the path already carries (an upload Location may have one). */
  query?: Record<string, string>;
}

export interface HttpResponse {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
}

export interface ErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** Basic credentials for the token service (as OCI_USERNAME/OCI_PASSWORD in the Go suite). */
export interface Credentials {
  username: string;
  password: string;
}

export class RegistryClient {
  /** Bearer tokens by challenge scope, as a Docker client keeps them. */
  private readonly tokens = new Map<string, string>();

  constructor(
    readonly baseUrl: string,
    private readonly credentials?: Credentials,
  ) {}

  /**
   * Does the Docker token dance like the Go suite's client: on a 401 with a Bearer challenge it
   * fetches a token for the challenge's scope from the realm with Basic credentials, then retries.
   */
  private async authorized(
    method: string,
    url: URL,
    options: RequestOptions,
    scopeKey: string,
  ): Promise<Response> {
    const send = (token?: string) =>
      fetch(url, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(options.headers ?? {}),
        },
        body: options.body,
        redirect: 'manual',
      });
    let response = await send(this.tokens.get(scopeKey));
    const challenge = response.headers.get('www-authenticate');
    if (response.status !== 401 || !this.credentials || !challenge?.startsWith('Bearer ')) {
      return response;
    }
    await response.arrayBuffer();
    const params = Object.fromEntries(
      [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    const tokenUrl = new URL(params.realm!);
    tokenUrl.searchParams.set('service', params.service ?? '');
    if (params.scope) tokenUrl.searchParams.set('scope', params.scope);
    const basic = Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString(
      'base64',
    );
    const tokenResponse = await fetch(tokenUrl, { headers: { authorization: `Basic ${basic}` } });
    if (tokenResponse.status !== 200) return send();
    const token = ((await tokenResponse.json()) as { access_token: string }).access_token;
    this.tokens.set(scopeKey, token);
    response = await send(token);
    return response;
  }

  /** `pathOrLocation` is a path (`/v2/...`) or a Location value; only its path and query are used. */
  async request(
    method: string,
    pathOrLocation: string,
    options: RequestOptions = {},
  ): Promise<HttpResponse> {
    const url = new URL(relativeOf(pathOrLocation), this.baseUrl);
    for (const [key, value] of Object.entries(options.query ?? {}))
      url.searchParams.set(key, value);
    // Tokens are scoped per repository: key the cache by the repository part of the path.
    const scopeKey =
      /^\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(url.pathname)?.[1] ?? url.pathname;
    const response = await this.authorized(method, url, options, `${scopeKey} ${method}`);
    const body = Buffer.from(await response.arrayBuffer());
    return {
      method,
      url: url.toString(),
      status: response.status,
      headers: response.headers,
      body,
    };
  }
}

/** Path and query of a URL or path, as reggie's GetRelativeLocation gives them. */
function relativeOf(location: string): string {
  const parsed = new URL(location, 'http://relative.invalid');
  return parsed.pathname + parsed.search;
}

/** The response's Location as path and query; '' without one (reggie's GetRelativeLocation). */
export function relativeLocation(response: HttpResponse): string {
  const location = response.headers.get('location');
  return location ? relativeOf(location) : '';
}

/** The response's Location resolved against the request URL (reggie's GetAbsoluteLocation). */
export function absoluteLocation(response: HttpResponse): string {
  const location = response.headers.get('location');
  return location ? new URL(location, response.url).toString() : '';
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** One line per fact, for assertion messages: what was asked and what came back. */
export function summarize(response: HttpResponse): string {
  const headers = [...response.headers.entries()].map(([k, v]) => `  ${k}: ${v}`).join('\n');
  const text = response.body.toString('utf8');
  const body = text.length > 600 ? `${text.slice(0, 600)}...` : text;
  return `${response.method} ${response.url} -> ${response.status}\n${headers}\n  body: ${body}`;
}

/** The `errors` array of a JSON error body; throws when the body is not one. */
export function errorsOf(response: HttpResponse): ErrorEntry[] {
  const parsed = JSON.parse(response.body.toString('utf8')) as { errors?: unknown };
  if (!Array.isArray(parsed.errors)) throw new Error(`no errors array in ${summarize(response)}`);
  return parsed.errors as ErrorEntry[];
}

export function jsonOf<T>(response: HttpResponse): T {
  return JSON.parse(response.body.toString('utf8')) as T;
}
