/**
 * @module identity/identity-tokens
 * Entra-like access tokens: what the identity service issues to service principals and managed
 * identities, and what the management API and `/oauth2/exchange` accept. Verification pins the
 * algorithm, the key id, the issuer, the audience and the lifetime: `alg: none`, a foreign key,
 * another audience or an expired token all fail.
 */
import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { SIGNING_ALGORITHM, type SigningKeys } from './signing-keys.js';

export interface IdentityClaims extends JWTPayload {
  tid: string;
  oid: string;
  appid: string;
  /** `app` for service principals and managed identities. */
  idtyp: 'app' | 'user';
  /** Managed identities: the identity's resource id (user-assigned) or its host resource. */
  xms_mirid?: string;
  /** Managed identities: the resource that used the identity to get this token. */
  xms_az_rid?: string;
  /** Which secret authenticated (service principals), so revoking it revokes the token. */
  xms_sid?: string;
}

export interface IssueOptions {
  tenantId: string;
  objectId: string;
  appId: string;
  audience: string;
  lifetimeSeconds: number;
  managedIdentityResourceId?: string;
  usingResourceId?: string;
  secretId?: string;
}

export class IdentityTokenError extends Error {
  override name = 'IdentityTokenError';
}

export class IdentityTokens {
  constructor(
    private readonly keys: SigningKeys,
    /** Base of the issuer (read at use: the listener's port may be chosen at bind time). */
    private readonly authority: () => string,
  ) {}

  issuerFor(tenantId: string): string {
    return `${this.authority()}/${tenantId}/v2.0`;
  }

  async issue(options: IssueOptions): Promise<{ token: string; expiresIn: number }> {
    const key = this.keys.current;
    const claims: IdentityClaims = {
      tid: options.tenantId,
      oid: options.objectId,
      appid: options.appId,
      azp: options.appId,
      idtyp: 'app',
      ver: '2.0',
      uti: randomUUID(),
      ...(options.managedIdentityResourceId
        ? { xms_mirid: options.managedIdentityResourceId }
        : {}),
      ...(options.usingResourceId ? { xms_az_rid: options.usingResourceId } : {}),
      ...(options.secretId ? { xms_sid: options.secretId } : {}),
    };
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, typ: 'JWT', kid: key.kid })
      .setIssuer(this.issuerFor(options.tenantId))
      .setSubject(options.objectId)
      .setAudience(options.audience)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime(`${options.lifetimeSeconds}s`)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { token, expiresIn: options.lifetimeSeconds };
  }

  /** Verifies a token for one of `audiences`; throws IdentityTokenError with the reason. */
  async verify(token: string, audiences: string[]): Promise<IdentityClaims> {
    try {
      const { payload } = await jwtVerify<IdentityClaims>(
        token,
        async (header) => {
          const key = this.keys.find(header.kid);
          if (!key) throw new IdentityTokenError('token signed with an unknown key');
          return key.publicKey;
        },
        { algorithms: [SIGNING_ALGORITHM], audience: audiences, clockTolerance: 30 },
      );
      if (typeof payload.tid !== 'string' || payload.iss !== this.issuerFor(payload.tid)) {
        throw new IdentityTokenError('token issuer is not this identity service');
      }
      if (typeof payload.oid !== 'string' || typeof payload.appid !== 'string') {
        throw new IdentityTokenError('token lacks oid or appid');
      }
      return payload;
    } catch (error) {
      if (error instanceof IdentityTokenError) throw error;
      if (error instanceof errors.JWTExpired) throw new IdentityTokenError('token expired');
      if (error instanceof errors.JWTClaimValidationFailed) {
        throw new IdentityTokenError(`token claim '${error.claim}' is not valid here`);
      }
      throw new IdentityTokenError('token is not valid');
    }
  }
}
