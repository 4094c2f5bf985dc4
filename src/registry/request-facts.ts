/**
 * @module registry/request-facts
 * Facts about a data-plane request that the access decision needs: the client address the
 * registry sees, and the base URL the client used (for the challenge's realm).
 */
import type { FastifyRequest } from 'fastify';

/** The socket peer, with IPv4-mapped IPv6 (`::ffff:1.2.3.4`) folded to IPv4. */
export function clientAddress(request: FastifyRequest): string {
  const address = request.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** `http(s)://<Host>`: the realm must point back at the door the client came through. */
export function realmBase(request: FastifyRequest): string {
  const scheme = (request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  return `${scheme}://${request.headers.host ?? 'localhost'}`;
}
