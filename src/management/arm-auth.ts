/**
 * @module management/arm-auth
 * Who is calling the management API (a bearer token from the identity service, for an ARM
 * audience) and whether their role assignments allow an action at a scope. Every ARM route
 * passes through `authorize` before it touches anything.
 */
import type { FastifyRequest } from 'fastify';
import {
  IdentityTokenError,
  type AuthenticatedPrincipal,
  type IdentityService,
} from '../identity/index.js';
import type { ControlPlaneStore } from '../metadata/index.js';
import { permissionAllowsAction, roleById } from '../rbac/index.js';
import { ArmError } from './arm-errors.js';

export class ArmAuth {
  /** Callers (one object per request) that passed an authorization check in this request. */
  private readonly authorized = new WeakSet<AuthenticatedPrincipal>();

  constructor(
    private readonly identity: IdentityService,
    private readonly store: ControlPlaneStore,
  ) {}

  /** The caller of a management request; 401 in ARM's words when absent or invalid. */
  async authenticate(request: FastifyRequest): Promise<AuthenticatedPrincipal> {
    const header = request.headers.authorization;
    if (!header) {
      throw new ArmError(
        401,
        'AuthenticationFailed',
        "Authentication failed. The 'Authorization' header is missing.",
      );
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw new ArmError(
        401,
        'AuthenticationFailed',
        "Authentication failed. The 'Authorization' header is provided in an invalid format.",
      );
    }
    try {
      return await this.identity.verify(match[1]!, [
        ...this.identity.audiences.arm,
        ...this.identity.audiences.graph,
      ]);
    } catch (error) {
      if (error instanceof IdentityTokenError) {
        if (error.message === 'token expired') {
          throw new ArmError(
            401,
            'ExpiredAuthenticationToken',
            'The access token expiry UTC time is earlier than current UTC time.',
          );
        }
        throw new ArmError(
          401,
          'InvalidAuthenticationToken',
          `The access token is invalid: ${error.message}.`,
        );
      }
      throw error;
    }
  }

  /** Whether the caller may perform `action` at `scope` (through any role assignment above it). */
  async isAllowed(caller: AuthenticatedPrincipal, action: string, scope: string): Promise<boolean> {
    const assignments = await this.store.listRoleAssignmentsApplyingTo(
      scope,
      caller.principal.objectId,
    );
    return assignments.some((assignment) => {
      const role = roleById(assignment.roleDefinitionId);
      return role !== undefined && permissionAllowsAction(role.permissions, action);
    });
  }

  async authorize(caller: AuthenticatedPrincipal, action: string, scope: string): Promise<void> {
    if (!(await this.isAllowed(caller, action, scope))) {
      const oid = caller.principal.objectId;
      throw new ArmError(
        403,
        'AuthorizationFailed',
        `The client '${caller.principal.appId}' with object id '${oid}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      );
    }
    this.authorized.add(caller);
  }

  /**
   * ARM checks authorization at the scope before it looks anything up, so a caller without the
   * right learns nothing of what exists. A route that answered 404 before any check passed gets
   * that check here, at the request's own path, with the action the path implies: 403
   * AuthorizationFailed for a caller without it, the 404 for one with it.
   */
  async beforeNotFound(
    caller: AuthenticatedPrincipal,
    method: string,
    path: string,
  ): Promise<void> {
    if (this.authorized.has(caller)) return;
    await this.authorize(caller, impliedAction(method, path), path);
  }
}

/**
 * The ARM action a request implies: the resource type from the path (the namespace after the
 * last `providers`, then every other segment; `Microsoft.Resources` without one) and the verb
 * from the method, e.g. `GET .../registries/r/tokens/t` -> `Microsoft.ContainerRegistry/
 * registries/tokens/read`, `POST .../registries/r/generateCredentials` -> `.../action`.
 */
export function impliedAction(method: string, path: string): string {
  const segments = path.split('/').filter(Boolean);
  const providers = segments.map((s) => s.toLowerCase()).lastIndexOf('providers');
  const types =
    providers >= 0
      ? [
          segments[providers + 1] ?? '',
          ...segments.slice(providers + 2).filter((_, i) => i % 2 === 0),
        ]
      : ['Microsoft.Resources', ...segments.filter((_, i) => i % 2 === 0)];
  const verb =
    method === 'GET' || method === 'HEAD'
      ? 'read'
      : method === 'DELETE'
        ? 'delete'
        : method === 'POST'
          ? 'action'
          : 'write';
  return `${types.join('/')}/${verb}`;
}
