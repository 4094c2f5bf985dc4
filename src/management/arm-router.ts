/**
 * @module management/arm-router
 * ARM paths are case-insensitive, and role assignments hang off any scope
 * (`{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`), which path-pattern
 * routers cannot express. This small table matches lower-cased segments and hands handlers the
 * original-case parameters, plus the scope prefix for scope-relative routes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthenticatedPrincipal } from '../identity/index.js';
import { ArmError } from './arm-errors.js';

export interface ArmRequestContext {
  /** The authenticated caller: every ARM route requires one. */
  caller: AuthenticatedPrincipal;
  request: FastifyRequest;
  reply: FastifyReply;
  params: Record<string, string>;
  /** For `{scope}/providers/Microsoft.Authorization/...` routes: the scope, as sent. */
  scope: string;
  query: URLSearchParams;
  apiVersion: string;
  body: unknown;
}

export type ArmHandler = (context: ArmRequestContext) => Promise<unknown>;

interface Route {
  method: string;
  segments: string[];
  /** Matches after any scope prefix that ends just before `providers/microsoft.authorization`. */
  scoped: boolean;
  handler: ArmHandler;
}

export class ArmRouter {
  private readonly routes: Route[] = [];

  /** `pattern` like `/subscriptions/:subscriptionId/resourceGroups/:resourceGroup`. */
  add(method: string, pattern: string, handler: ArmHandler): void {
    this.routes.push({
      method,
      segments: split(pattern).map(lowerLiteral),
      scoped: false,
      handler,
    });
  }

  /** `suffix` like `/providers/Microsoft.Authorization/roleAssignments/:name`, after any scope. */
  addScoped(method: string, suffix: string, handler: ArmHandler): void {
    this.routes.push({ method, segments: split(suffix).map(lowerLiteral), scoped: true, handler });
  }

  /** The route table as registered (for the adversarial matrix, which attacks every route). */
  table(): Array<{ method: string; pattern: string; scoped: boolean }> {
    return this.routes.map((route) => ({
      method: route.method,
      pattern: `/${route.segments.join('/')}`,
      scoped: route.scoped,
    }));
  }

  match(
    method: string,
    path: string,
  ): { route: Route; params: Record<string, string>; scope: string } | undefined {
    const segments = split(path);
    let pathMatched = false;
    for (const route of this.routes) {
      const offset = route.scoped ? segments.length - route.segments.length : 0;
      if (offset < 0 || (!route.scoped && segments.length !== route.segments.length)) continue;
      const params = matchSegments(route.segments, segments.slice(offset));
      if (!params) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const scope = route.scoped ? `/${segments.slice(0, offset).join('/')}` : '';
      return { route, params, scope: scope === '/' ? '' : scope };
    }
    if (pathMatched) {
      throw new ArmError(
        405,
        'MethodNotAllowed',
        `The requested method '${method}' is not allowed on this resource.`,
      );
    }
    return undefined;
  }
}

function split(path: string): string[] {
  return path.split('/').filter(Boolean);
}

function lowerLiteral(segment: string): string {
  return segment.startsWith(':') ? segment : segment.toLowerCase();
}

function matchSegments(pattern: string[], actual: string[]): Record<string, string> | undefined {
  if (pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i += 1) {
    const expected = pattern[i]!;
    const value = safeDecode(actual[i]!);
    if (expected.startsWith(':')) params[expected.slice(1)] = value;
    else if (expected !== value.toLowerCase()) return undefined;
  }
  return params;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
