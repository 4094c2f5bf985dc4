export {
  IdentityService,
  OAuthError,
  TOKEN_LIFETIME_SECONDS,
  FIRST_PARTY_PREFIX,
  FIRST_PARTY_TENANT,
  type Audiences,
  type AuthenticatedPrincipal,
  type ResourceIdentityLookup,
} from './identity-service.js';
export { identityRoutes, type IdentityRoutesOptions } from './identity-routes.js';
export { IdentityTokenError, IdentityTokens, type IdentityClaims } from './identity-tokens.js';
export { Sealer } from './sealing.js';
export { generateSecret, hashSecret, verifySecret } from './secrets.js';
export {
  SIGNING_ALGORITHM,
  SigningKeys,
  type KeyPurpose,
  type SigningKey,
} from './signing-keys.js';
