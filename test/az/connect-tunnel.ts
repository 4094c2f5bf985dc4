/**
 * @module test/az/connect-tunnel
 * A loopback HTTP CONNECT proxy that sends every tunnel for a host under one suffix (the
 * registries' `*.azurecr.localhost` login servers, which do not resolve here) to one TCP target
 * (the data endpoint, served over TLS with `--data-tls`), byte for byte: TLS stays end to end
 * between the client and the server, whose certificate covers `*.<loginServerSuffix>`. Any
 * other CONNECT is refused, so nothing else leaves through it. The real az CLI is pointed at it
 * with `HTTPS_PROXY` and `NO_PROXY=127.0.0.1` (the management endpoint stays direct).
 */
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface ConnectTunnel {
  /** `http://127.0.0.1:PORT`, for HTTPS_PROXY. */
  url: string;
  /** Every CONNECT target asked for, in order (`host:port`). */
  targets: string[];
  close(): Promise<void>;
}

export async function startConnectTunnel(
  hostSuffix: string,
  target: { host: string; port: number },
): Promise<ConnectTunnel> {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => {
    res.writeHead(405, { connection: 'close' }).end('CONNECT only\n');
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const requested = req.url ?? '';
    targets.push(requested);
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const hostname = requested.replace(/:\d+$/, '').toLowerCase();
    if (!hostname.endsWith(hostSuffix.toLowerCase())) {
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = connect(target.port, target.host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => {
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    targets,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    },
  };
}
