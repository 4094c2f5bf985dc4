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

export class RegistryClient {
  constructor(readonly baseUrl: string) {}

  /** `pathOrLocation` is a path (`/v2/...`) or a Location value; only its path and query are used. */
  async request(
    method: string,
    pathOrLocation: string,
    options: RequestOptions = {},
  ): Promise<HttpResponse> {
    const url = new URL(relativeOf(pathOrLocation), this.baseUrl);
    for (const [key, value] of Object.entries(options.query ?? {}))
      url.searchParams.set(key, value);
    const response = await fetch(url, {
      method,
      headers: options.headers ?? {},
      body: options.body,
      redirect: 'manual',
    });
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
