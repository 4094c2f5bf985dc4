export {
  AccessDecider,
  NULL_GUID,
  type DataPrincipal,
  type Decision,
  type PermissionView,
  type RequestFacts,
  type Requirement,
} from './access-decision.js';
export {
  ACCESS_TOKEN_SECONDS,
  REFRESH_TOKEN_SECONDS,
  RegistryTokenError,
  RegistryTokens,
  type RegistryTokenClaims,
  type TokenSubject,
} from './registry-tokens.js';
export { DOCKER_ACTIONS, formatScope, parseScopes, type AccessEntry } from './scopes.js';
export { AuditLog, type AuditEntry } from './audit-log.js';
