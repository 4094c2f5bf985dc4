/**
 * @module registry/request-facts
 * The base URL a client used to reach the data endpoint, for the challenge's realm: the realm
 * must point back at the door the client came through. (The client address the access decision
 * judges comes from network/client-address.ts, through the decider.)
 */
import type { FastifyRequest } from 'fastify';

/** `http(s)://<Host>`. */
export function realmBase(request: FastifyRequest): string {
  const scheme = (request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  return `${scheme}://${request.headers.host ?? 'localhost'}`;
}
