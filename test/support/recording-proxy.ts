/**
 * @module test/support/recording-proxy
 * A transparent loopback HTTP proxy placed between a real client and the registry, recording
 * each request's method, URL and response status. Interop tests use it to assert protocol-level
 * behaviour a user cannot see in client output (e.g. that a cross-repository blob mount was
 * answered 201 instead of falling back to an upload) and to show the exchange when a test fails.
 *
 * It forwards bodies unchanged and does not interpret the protocol. The registry chooses what it
 * serves from the Host header, so requests reach it with Host set to the registry's own address,
 * and absolute URLs to that address in Location / WWW-Authenticate are rewritten to the proxy's,
 * so clients keep talking through the proxy.
 */
import { Agent, createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query as the client sent them. */
  url: string;
  /** Response status; 0 if the registry could not be reached. */
  status: number;
  location?: string;
}

export interface RecordingProxy {
  /** `127.0.0.1:PORT` of the proxy: use it as the registry host in image references. */
  host: string;
  requests: RecordedRequest[];
  /** The recorded exchange, one `METHOD URL -> STATUS` line per request. */
  log(): string;
  close(): Promise<void>;
}

export async function startRecordingProxy(targetHost: string): Promise<RecordingProxy> {
  const [hostname = '127.0.0.1', portText = '80'] = targetHost.split(':');
  const agent = new Agent({ keepAlive: true });
  const requests: RecordedRequest[] = [];
  const targetOrigin = `http://${targetHost}`;
  let proxyOrigin = '';

  const server = createServer((clientRequest, clientResponse) => {
    const record: RecordedRequest = {
      method: clientRequest.method ?? 'GET',
      url: clientRequest.url ?? '/',
      status: 0,
    };
    requests.push(record);
    const headers: IncomingHttpHeaders = { ...clientRequest.headers, host: targetHost };
    const upstream = request(
      {
        hostname,
        port: Number(portText),
        method: clientRequest.method,
        path: clientRequest.url,
        headers,
        agent,
      },
      (upstreamResponse) => {
        record.status = upstreamResponse.statusCode ?? 0;
        const location = upstreamResponse.headers.location;
        if (location) record.location = location;
        const rawHeaders = [...upstreamResponse.rawHeaders];
        for (let i = 1; i < rawHeaders.length; i += 2) {
          const name = rawHeaders[i - 1]?.toLowerCase();
          if (name === 'location' || name === 'www-authenticate') {
            rawHeaders[i] = rawHeaders[i]?.split(targetOrigin).join(proxyOrigin) ?? '';
          }
        }
        clientResponse.writeHead(upstreamResponse.statusCode ?? 502, rawHeaders);
        upstreamResponse.pipe(clientResponse);
      },
    );
    upstream.on('error', (error) => {
      if (!clientResponse.headersSent) {
        clientResponse.writeHead(502, { 'content-type': 'text/plain' });
      }
      clientResponse.end(`recording proxy: ${error.message}`);
    });
    clientRequest.pipe(upstream);
  });

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  proxyOrigin = `http://127.0.0.1:${port}`;

  return {
    host: `127.0.0.1:${port}`,
    requests,
    log: () =>
      requests
        .map((entry) => `${entry.method} ${entry.url} -> ${entry.status || 'no response'}`)
        .join('\n'),
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolveClose());
      }),
  };
}
