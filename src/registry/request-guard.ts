/**
 * @module registry/request-guard
 * The front of every data-plane route (`/v2/`, `/acr/v1/`): registry from the door and Host,
 * the route from the path, then THE access decision, whose refusal is thrown in OCI form. A
 * path that does not parse is still judged first (as a bare login), so a refused caller learns
 * nothing from the route's own errors.
 */
import type { FastifyRequest } from 'fastify';
import type { AccessDecider, DataPrincipal, Requirement } from '../access/index.js';
import { RegistryError } from '../core/errors.js';
import type { RegistryRecord } from '../metadata/index.js';
import type { Door } from '../network/index.js';
import type { HostResolver } from './host-resolver.js';
import { drain } from './http-utils.js';
import { realmBase } from './request-facts.js';

export interface GuardOptions {
  decider: AccessDecider;
  hosts: HostResolver;
  door: Door;
}

export interface GuardedRequest<T> {
  registry: RegistryRecord;
  url: URL;
  target: T;
  principal: DataPrincipal;
  /** Writes are limited to referrers (the decision says so for the scanner). */
  referrersOnly: boolean;
}

export async function guardRequest<T>(
  { decider, hosts, door }: GuardOptions,
  request: FastifyRequest,
  parse: (path: string) => T,
  requirementOf: (target: T, method: string) => Requirement,
): Promise<GuardedRequest<T>> {
  const registry = await hosts.forDoor(door, request.headers.host);
  const url = new URL(request.url, 'http://registry.invalid');
  let target: T | undefined;
  let parseError: unknown;
  try {
    target = parse(url.pathname);
  } catch (error) {
    parseError = error;
  }
  const decision = await decider.decide(
    {
      registry,
      door,
      source: decider.sourceOf(request.socket.remoteAddress, request.headers),
      authorization: request.headers.authorization,
      realmBase: realmBase(request),
      operation: `${request.method} ${url.pathname.slice(0, 300)}`,
    },
    target !== undefined ? requirementOf(target, request.method) : { kind: 'authenticated' },
  );
  if (!decision.allowed) {
    drain(request.raw);
    throw new RegistryError(decision.code, decision.message, {
      status: decision.status,
      ...(decision.detail ? { detail: decision.detail } : {}),
      ...(decision.challenge ? { headers: { 'WWW-Authenticate': decision.challenge } } : {}),
    });
  }
  if (target === undefined) throw parseError;
  return {
    registry,
    url,
    target,
    principal: decision.principal,
    referrersOnly: decision.referrersOnly === true,
  };
}
