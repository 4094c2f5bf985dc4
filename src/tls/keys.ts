/**
 * @module tls/keys
 * ECDSA P-256 key pairs and their PEM form (PKCS#8, `-----BEGIN PRIVATE KEY-----`).
 *
 * Keys are generated with WebCrypto (which `@peculiar/x509` signs with) and converted through
 * Node's KeyObject, which reads every common PEM flavour (PKCS#8 and SEC1 alike). Nothing here
 * loads `@peculiar/x509`.
 */
import { KeyObject, createPrivateKey, webcrypto, type X509Certificate } from 'node:crypto';
import { KEY_ALGORITHM } from './constants.js';

export type KeyPair = webcrypto.CryptoKeyPair;
export type CryptoKey = webcrypto.CryptoKey;

export async function generateKeyPair(): Promise<KeyPair> {
  // Extractable so the private key can be written to disk.
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

export function privateKeyToPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * Reads a P-256 private key from PEM into a WebCrypto signing key. Throws with `label` (the
 * file's path) in the message when the PEM is not such a key.
 */
export async function importSigningKey(pem: string, label: string): Promise<CryptoKey> {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new Error(`${label} is not a readable PEM private key: ${messageOf(error)}`, {
      cause: error,
    });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`${label} is not an ECDSA P-256 private key`);
  }
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

/** True when the PEM private key is the one whose public half `certificate` carries. */
export function keyMatchesCertificate(keyPem: string, certificate: X509Certificate): boolean {
  return certificate.checkPrivateKey(createPrivateKey({ key: keyPem, format: 'pem' }));
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
