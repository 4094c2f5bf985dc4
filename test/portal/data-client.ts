/**
 * @module test/portal/data-client
 * A plain registry client for the portal scenarios: one HTTP request to the data endpoint from a
 * chosen loopback source address (`localAddress`), as a client on another network would come.
 */
import { request } from 'node:http';

export interface DataResponse {
  status: number;
  body: string;
}

export function dataRequest(
  url: string,
  path: string,
  options: {
    from?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
  } = {},
): Promise<DataResponse> {
  const target = new URL(path, url);
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ...(options.from ? { localAddress: options.from } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The `message` of an OCI error body, for assertions that read what a client shows. */
export function ociMessage(response: DataResponse): string {
  try {
    return (JSON.parse(response.body) as { errors: { message: string }[] }).errors[0]!.message;
  } catch {
    return response.body;
  }
}
