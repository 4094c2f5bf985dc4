/**
 * @module tls/ca
 * The platform's own certificate authority: `ca.key` + `ca.crt` under the TLS directory.
 *
 * Made once, on first start, and kept: clients are told to trust `ca.crt`, so replacing it
 * silently would break every one of them. It is therefore only made when either file is missing
 * (nothing to keep) or when it is about to expire (10 years on; nothing to save). A present but
 * unreadable or mismatched pair is an error for the operator, not something to paper over.
 *
 * An existing CA is read and checked with `node:crypto` only; `@peculiar/x509` is loaded (see
 * `x509.ts`) only when a CA is actually made.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BACKDATE_MS, DAY_MS, SIGNING_ALGORITHM } from './constants.js';
import { PRIVATE_MODE, PUBLIC_MODE, readTextIfExists, writeFileAtomic } from './files.js';
import {
  generateKeyPair,
  importSigningKey,
  keyMatchesCertificate,
  messageOf,
  privateKeyToPem,
  type CryptoKey,
} from './keys.js';

export const CA_KEY_FILE = 'ca.key';
export const CA_CERT_FILE = 'ca.crt';

const CA_VALIDITY_YEARS = 10;
/** Same margin as the server certificate: renew while there is still time to re-trust. */
export const RENEW_BEFORE_MS = 30 * DAY_MS;

export interface CertificateAuthority {
  /** `certPem` parsed by `node:crypto` (not by `@peculiar/x509`, which is loaded on demand). */
  certificate: X509Certificate;
  /** `keyPem` as a WebCrypto signing key. */
  privateKey: CryptoKey;
  certPem: string;
  keyPem: string;
  certPath: string;
  keyPath: string;
  /** True when this call made the CA (so any existing server certificate is now orphaned). */
  created: boolean;
}

export async function loadOrCreateCa(dir: string, now: Date): Promise<CertificateAuthority> {
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  const [certPem, keyPem] = await Promise.all([
    readTextIfExists(certPath),
    readTextIfExists(keyPath),
  ]);
  if (certPem !== undefined && keyPem !== undefined) {
    const existing = await parseCa(certPem, keyPem, certPath, keyPath);
    if (existing.notAfter.getTime() - now.getTime() > RENEW_BEFORE_MS) {
      return { ...existing.ca, certPem, keyPem, certPath, keyPath, created: false };
    }
  }
  return createCa(certPath, keyPath, now);
}

async function createCa(
  certPath: string,
  keyPath: string,
  now: Date,
): Promise<CertificateAuthority> {
  const { x509 } = await import('./x509.js');
  const keys = await generateKeyPair();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  // A short random id keeps CAs from different installations apart in a trust store listing.
  const id = randomBytes(4).toString('hex');
  const generated = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=Breakwater Local CA ${id}`,
    keys,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      // pathLen 0: this CA signs server certificates, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      // Key identifiers: OpenSSL's strict mode (Python 3.13's default) requires them.
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = generated.toString('pem') + '\n';
  const keyPem = privateKeyToPem(keys.privateKey);
  // Key first: a crash in between leaves no ca.crt, so the next start makes a fresh pair
  // instead of pairing a certificate with the wrong key.
  await writeFileAtomic(keyPath, keyPem, PRIVATE_MODE);
  await writeFileAtomic(certPath, certPem, PUBLIC_MODE);
  return {
    certificate: new X509Certificate(certPem),
    privateKey: keys.privateKey,
    certPem,
    keyPem,
    certPath,
    keyPath,
    created: true,
  };
}

async function parseCa(
  certPem: string,
  keyPem: string,
  certPath: string,
  keyPath: string,
): Promise<{ ca: Pick<CertificateAuthority, 'certificate' | 'privateKey'>; notAfter: Date }> {
  const advice = `; delete ${certPath} and ${keyPath} to make a new CA (clients must then trust the new one)`;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (error) {
    throw new Error(`${certPath} is not a PEM certificate: ${messageOf(error)}${advice}`, {
      cause: error,
    });
  }
  // `ca`: basicConstraints CA:TRUE (OpenSSL's X509_check_ca() === 1).
  if (!certificate.ca) {
    throw new Error(`${certPath} is not a CA certificate (basicConstraints CA:TRUE)${advice}`);
  }
  // An unreadable date must not read as "expired": that would silently replace the CA.
  const notAfter = new Date(certificate.validTo);
  if (Number.isNaN(notAfter.getTime())) {
    throw new Error(`${certPath} has an unreadable expiry date "${certificate.validTo}"${advice}`);
  }
  const privateKey = await importSigningKey(keyPem, keyPath).catch((error: unknown) => {
    throw new Error(`${messageOf(error)}${advice}`, { cause: error });
  });
  if (!keyMatchesCertificate(keyPem, certificate)) {
    throw new Error(`${keyPath} is not the private key of ${certPath}${advice}`);
  }
  return { ca: { certificate, privateKey }, notAfter };
}
