/**
 * @module registry/rate-limit
 * Per-client rate limiting of a data-plane listener (`/v2/`, `/acr/v1/`, `/oauth2/`): each
 * client address gets `requests` per `windowSeconds`; beyond that it is answered 429
 * `TOOMANYREQUESTS` with `Retry-After`, before the access decision spends anything on it.
 *
 * The client is the address the access decision judges (the socket peer, or the forwarded
 * client behind a trusted proxy), so a forged `X-Forwarded-For` buys no fresh allowance.
 * @fastify/rate-limit does the counting; its `store` option is the seam where a shared store
 * (its Redis store, or another) can back the counters when replicas share the load. The local
 * store keeps at most `MAX_CLIENTS` counters (least recently used go first), so memory stays
 * bounded whatever number of addresses a flood comes from.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { AccessDecider } from '../access/index.js';
import { RegistryError } from '../core/errors.js';

export interface RateLimitOptions {
  decider: AccessDecider;
  requests: number;
  windowSeconds: number;
}

const MAX_CLIENTS = 50_000;

export async function rateLimiting(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    max: options.requests,
    timeWindow: options.windowSeconds * 1000,
    cache: MAX_CLIENTS,
    // Health probes are never throttled.
    allowList: (request) => request.url === '/healthz',
    keyGenerator: (request) =>
      options.decider.sourceOf(request.socket.remoteAddress, request.headers),
    // ACR sends no X-RateLimit-* headers; Retry-After only, on the refusal.
    addHeadersOnExceeding: {
      'x-ratelimit-limit': false,
      'x-ratelimit-remaining': false,
      'x-ratelimit-reset': false,
    },
    addHeaders: {
      'x-ratelimit-limit': false,
      'x-ratelimit-remaining': false,
      'x-ratelimit-reset': false,
      'retry-after': true,
    },
    errorResponseBuilder: (_request, context) =>
      new RegistryError(
        'TOOMANYREQUESTS',
        `too many requests from this client: retry after ${context.after}`,
        {
          status: 429,
          headers: { 'Retry-After': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
        },
      ),
  });
}
