/**
 * @module access/registry-tokens
 * The registry's own tokens, as ACR issues them: a refresh token (3 h) that stands for a
 * principal, and an access token (75 min) that lists granted scopes in its `access` claim. They
 * are signed with the registry key (never published), bound to one login server by `aud`, and
 * carry what is needed to re-check the principal on every use (which credential, which
 * resource used a managed identity), so revocation applies at once.
 */
import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { SIGNING_ALGORITHM, type SigningKeys } from '../identity/index.js';
import type { AccessEntry } from './scopes.js';

export const REGISTRY_ISSUER = 'Azure Container Registry';
export const REFRESH_TOKEN_SECONDS = 3 * 3600;
export const ACCESS_TOKEN_SECONDS = 75 * 60;

/** Who a registry token stands for. */
export interface TokenSubject {
  /**
   * `aad`: a service principal or managed identity (role-based); `admin`: the admin user;
   * `anonymous`: nobody, while the registry allows anonymous pull; `token`: a repository token
   * (id = the token's resource id), limited by its scope map; `run`: a task run's implicit
   * credential for its own registry (id = the run's resource id), valid while the run runs.
   */
  kind: 'aad' | 'admin' | 'anonymous' | 'token' | 'run';
  /** Object id (aad) or registry name (admin). */
  id: string;
  tenant?: string;
  /** The secret that authenticated a service principal, if it came from a secret. */
  secretId?: string;
  /** Managed identities: the resource that used the identity. */
  usingResource?: string;
  /** Managed identities: the identity's resource id. */
  identityResource?: string;
}

export interface RegistryTokenClaims extends JWTPayload {
  grant_type: 'refresh_token' | 'access_token';
  sbj: TokenSubject;
  access?: AccessEntry[];
}

export class RegistryTokenError extends Error {
  override name = 'RegistryTokenError';
}

/** Tokens whose signature was verified, so a client's next requests skip the ECDSA check. */
const VERIFIED_CACHE_SIZE = 2_000;
const CLOCK_TOLERANCE_SECONDS = 30;

interface VerifiedToken {
  claims: RegistryTokenClaims;
  kid: string | undefined;
}

export class RegistryTokens {
  /**
   * Verified tokens by grant type, audience and token text. A client sends the same access token
   * with every request of a push (dozens), and verifying ES256 was a tenth of the server's CPU.
   * A hit still checks expiry and that the signing key has not been removed since.
   */
  private readonly verified = new Map<string, VerifiedToken>();

  constructor(private readonly keys: SigningKeys) {}

  private async sign(
    claims: RegistryTokenClaims,
    loginServer: string,
    seconds: number,
  ): Promise<string> {
    const key = this.keys.current;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, typ: 'JWT', kid: key.kid })
      .setIssuer(REGISTRY_ISSUER)
      .setAudience(loginServer)
      .setSubject(claims.sbj.id)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime(`${seconds}s`)
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  refreshToken(subject: TokenSubject, loginServer: string): Promise<string> {
    return this.sign(
      { grant_type: 'refresh_token', sbj: subject, version: '1.0' },
      loginServer,
      REFRESH_TOKEN_SECONDS,
    );
  }

  accessToken(subject: TokenSubject, loginServer: string, access: AccessEntry[]): Promise<string> {
    return this.sign(
      { grant_type: 'access_token', sbj: subject, access, version: '1.0' },
      loginServer,
      ACCESS_TOKEN_SECONDS,
    );
  }

  /** Verifies a token of `grantType` for `loginServer`; throws RegistryTokenError with why. */
  async verify(
    token: string,
    loginServer: string,
    grantType: RegistryTokenClaims['grant_type'],
  ): Promise<RegistryTokenClaims> {
    const cacheKey = `${grantType} ${loginServer} ${token}`;
    const cached = this.verified.get(cacheKey);
    if (cached) {
      if (!this.keys.find(cached.kid))
        throw new RegistryTokenError('token signed with an unknown key');
      if ((cached.claims.exp ?? 0) + CLOCK_TOLERANCE_SECONDS > Date.now() / 1000)
        return cached.claims;
      this.verified.delete(cacheKey);
      throw new RegistryTokenError('token expired');
    }
    const claims = await this.verifySignature(token, loginServer, grantType);
    if (this.verified.size >= VERIFIED_CACHE_SIZE)
      this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(cacheKey, { claims, kid: decodeProtectedHeader(token).kid });
    return claims;
  }

  private async verifySignature(
    token: string,
    loginServer: string,
    grantType: RegistryTokenClaims['grant_type'],
  ): Promise<RegistryTokenClaims> {
    try {
      const { payload } = await jwtVerify<RegistryTokenClaims>(
        token,
        async (header) => {
          const key = this.keys.find(header.kid);
          if (!key) throw new RegistryTokenError('token signed with an unknown key');
          return key.publicKey;
        },
        {
          algorithms: [SIGNING_ALGORITHM],
          issuer: REGISTRY_ISSUER,
          audience: loginServer,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
        },
      );
      if (payload.grant_type !== grantType)
        throw new RegistryTokenError(`not a ${grantType.replace('_', ' ')}`);
      if (
        !payload.sbj ||
        !['aad', 'admin', 'anonymous', 'token', 'run'].includes(payload.sbj.kind)
      ) {
        throw new RegistryTokenError('token has no subject');
      }
      return payload;
    } catch (error) {
      if (error instanceof RegistryTokenError) throw error;
      if (error instanceof errors.JWTExpired) throw new RegistryTokenError('token expired');
      if (error instanceof errors.JWTClaimValidationFailed) {
        throw new RegistryTokenError(`token ${error.claim} is not valid for this registry`);
      }
      throw new RegistryTokenError('token is not valid');
    }
  }
}
