/**
 * @module identity/signing-keys
 * The platform's JWT signing keys, one per purpose, made on first start under `<data>/keys/`
 * (private JWKs, mode 0600). Identity tokens and registry tokens use different keys, so a token
 * minted for one purpose can never verify as the other. Keys carry ids (`kid`); verification
 * accepts every key of the purpose that is still listed, so a new key can be added before an
 * old one is retired (rotation without downtime).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
  type KeyObject,
} from 'jose';

export const SIGNING_ALGORITHM = 'ES256';

export type KeyPurpose = 'identity' | 'registry';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey | KeyObject;
  publicKey: CryptoKey | KeyObject;
  publicJwk: JWK;
}

export class SigningKeys {
  private constructor(
    /** Newest first: the first signs, all verify. */
    private readonly keys: SigningKey[],
  ) {}

  static async open(directory: string, purpose: KeyPurpose): Promise<SigningKeys> {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const names = (await readdir(directory))
      .filter((name) => name.startsWith(`${purpose}-`) && name.endsWith('.jwk'))
      .sort()
      .reverse();
    const keys: SigningKey[] = [];
    for (const name of names) {
      const jwk = JSON.parse(await readFile(join(directory, name), 'utf8')) as JWK & {
        created?: string;
      };
      keys.push(await fromPrivateJwk(jwk));
    }
    if (keys.length === 0) keys.push(await createKey(directory, purpose));
    return new SigningKeys(keys);
  }

  get current(): SigningKey {
    return this.keys[0]!;
  }

  find(kid: string | undefined): SigningKey | undefined {
    return this.keys.find((key) => key.kid === kid);
  }

  /** The public JWKS document (identity keys are published; registry keys are not). */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((key) => key.publicJwk) };
  }
}

async function createKey(directory: string, purpose: KeyPurpose): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = SIGNING_ALGORITHM;
  jwk.use = 'sig';
  // Sortable file names: the newest key signs.
  const name = `${purpose}-${new Date().toISOString().replace(/[:.]/g, '')}-${randomUUID().slice(0, 8)}.jwk`;
  const temporary = join(directory, `.${name}.tmp`);
  await writeFile(temporary, JSON.stringify(jwk), { mode: 0o600 });
  await rename(temporary, join(directory, name));
  return fromPrivateJwk(jwk);
}

async function fromPrivateJwk(jwk: JWK): Promise<SigningKey> {
  const { d: _private, ...publicJwk } = jwk;
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  return {
    kid,
    privateKey: (await importJWK(jwk, SIGNING_ALGORITHM)) as CryptoKey | KeyObject,
    publicKey: (await importJWK(publicJwk, SIGNING_ALGORITHM)) as CryptoKey | KeyObject,
    publicJwk: {
      kty: publicJwk.kty,
      crv: publicJwk.crv,
      x: publicJwk.x,
      y: publicJwk.y,
      kid,
      alg: SIGNING_ALGORITHM,
      use: 'sig',
    },
  };
}
