/**
 * @module identity/signing-keys
 * The platform's JWT signing keys, one per purpose, made on first start under `<data>/keys/`
 * (private JWKs, mode 0600). Identity tokens and registry tokens use different keys, so a token
 * minted for one purpose can never verify as the other. Keys carry ids (`kid`); verification
 * accepts every key of the purpose that is still listed, so a new key can be added before an
 * old one is retired (rotation without downtime).
 *
 * Rotation (`rotateSigningKeys`, `breakwater keys rotate`): a new key is written and signs from
 * the next `reload` on (a running server reloads on SIGHUP and every minute); the keys it
 * replaced keep verifying until every token they signed has expired (`RETIRE_AFTER_MS`, longer
 * than the longest token lifetime), then their files are removed by a later rotation.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
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

export const KEY_PURPOSES: readonly KeyPurpose[] = ['identity', 'registry'];

/**
 * How long a replaced key still verifies: beyond the longest token it can have signed (registry
 * refresh tokens, 3 h), with an hour to spare.
 */
export const RETIRE_AFTER_MS = 4 * 3600_000;

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey | KeyObject;
  publicKey: CryptoKey | KeyObject;
  publicJwk: JWK;
}

export class SigningKeys {
  private constructor(
    private readonly directory: string,
    private readonly purpose: KeyPurpose,
    /** Newest first: the first signs, all verify. */
    private keys: SigningKey[],
  ) {}

  static async open(directory: string, purpose: KeyPurpose): Promise<SigningKeys> {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const keys = await readKeys(directory, purpose);
    if (keys.length === 0) keys.push(await createKey(directory, purpose));
    return new SigningKeys(directory, purpose, keys);
  }

  /** Re-reads the key files: a rotated key signs from now on, removed keys stop verifying. */
  async reload(): Promise<void> {
    const keys = await readKeys(this.directory, this.purpose);
    if (keys.length > 0) this.keys = keys;
  }

  get current(): SigningKey {
    return this.keys[0]!;
  }

  /** Key ids, newest (the signing key) first. */
  kids(): string[] {
    return this.keys.map((key) => key.kid);
  }

  find(kid: string | undefined): SigningKey | undefined {
    return this.keys.find((key) => key.kid === kid);
  }

  /** The public JWKS document (identity keys are published; registry keys are not). */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((key) => key.publicJwk) };
  }
}

/**
 * Writes a new signing key of `purpose` (it signs once a server reloads) and removes the files
 * of keys replaced more than RETIRE_AFTER_MS ago. Returns the new key id and the retired ones.
 */
export async function rotateSigningKeys(
  directory: string,
  purpose: KeyPurpose,
  now = Date.now(),
): Promise<{ kid: string; retired: string[] }> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const created = await createKey(directory, purpose, now);
  const files = await keyFiles(directory, purpose);
  const retired: string[] = [];
  // Newest first: a key was replaced when the next newer one was created.
  for (let i = 1; i < files.length; i += 1) {
    const replacedAt = createdAt(files[i - 1]!);
    if (replacedAt !== undefined && now - replacedAt > RETIRE_AFTER_MS) {
      const jwk = JSON.parse(await readFile(join(directory, files[i]!), 'utf8')) as JWK;
      await rm(join(directory, files[i]!), { force: true });
      retired.push(String(jwk.kid));
    }
  }
  return { kid: created.kid, retired };
}

/** Key files of a purpose, newest first (their names sort by creation time). */
async function keyFiles(directory: string, purpose: KeyPurpose): Promise<string[]> {
  return (await readdir(directory))
    .filter((name) => name.startsWith(`${purpose}-`) && name.endsWith('.jwk'))
    .sort()
    .reverse();
}

async function readKeys(directory: string, purpose: KeyPurpose): Promise<SigningKey[]> {
  const keys: SigningKey[] = [];
  for (const name of await keyFiles(directory, purpose)) {
    const jwk = JSON.parse(await readFile(join(directory, name), 'utf8')) as JWK;
    keys.push(await fromPrivateJwk(jwk));
  }
  return keys;
}

/** The creation time written into a key's file name (`<purpose>-20261128T190800123Z-...`). */
function createdAt(name: string): number | undefined {
  const match = /-(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-/.exec(name);
  if (!match) return undefined;
  return Date.parse(`${match[1]}T${match[2]}:${match[3]}:${match[4]}.${match[5]}Z`);
}

async function createKey(
  directory: string,
  purpose: KeyPurpose,
  now = Date.now(),
): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = SIGNING_ALGORITHM;
  jwk.use = 'sig';
  // Sortable file names: the newest key signs.
  const name = `${purpose}-${new Date(now).toISOString().replace(/[:.]/g, '')}-${randomUUID().slice(0, 8)}.jwk`;
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
