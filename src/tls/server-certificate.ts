/**
 * @module tls/server-certificate
 * The listeners' certificate: `server.key` + `server.crt`, issued by the platform CA.
 *
 * Unlike the CA it is disposable (clients trust the CA, not this certificate), so it is simply
 * re-issued, with a fresh key, whenever it no longer fits: missing or unreadable files, a key
 * that is not the certificate's, not signed by the current CA, not yet or no longer valid within
 * 30 days, or not covering every requested name. Otherwise the files are left byte-for-byte
 * alone.
 *
 * That check uses `node:crypto` only; `@peculiar/x509` is loaded (see `x509.ts`) only when a
 * certificate is actually issued.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { RENEW_BEFORE_MS, type CertificateAuthority } from './ca.js';
import { BACKDATE_MS, DAY_MS, SIGNING_ALGORITHM } from './constants.js';
import { PRIVATE_MODE, PUBLIC_MODE, readTextIfExists, writeFileAtomic } from './files.js';
import { generateKeyPair, keyMatchesCertificate, privateKeyToPem } from './keys.js';
import { namesCovered, type SubjectNames } from './names.js';

export const SERVER_KEY_FILE = 'server.key';
export const SERVER_CERT_FILE = 'server.crt';

/** Apple's ceiling for certificates under a locally trusted root; Chromium accepts it too. */
const SERVER_VALIDITY_MS = 825 * DAY_MS;

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
  certPath: string;
  keyPath: string;
  /** True when this call wrote a new certificate. */
  issued: boolean;
}

/** `names` must already be normalised (see `normalizeNames`). */
export async function loadOrIssueServerCertificate(
  dir: string,
  ca: CertificateAuthority,
  names: SubjectNames,
  now: Date,
): Promise<ServerCertificate> {
  const certPath = join(dir, SERVER_CERT_FILE);
  const keyPath = join(dir, SERVER_KEY_FILE);
  const [certPem, keyPem] = await Promise.all([
    readTextIfExists(certPath),
    readTextIfExists(keyPath),
  ]);
  if (
    certPem !== undefined &&
    keyPem !== undefined &&
    !ca.created &&
    stillFits(certPem, keyPem, ca, names, now)
  ) {
    return { certPem, keyPem, certPath, keyPath, issued: false };
  }
  const issued = await issue(ca, names, now);
  // Key first: a crash in between leaves a mismatched pair, which the next start re-issues.
  await writeFileAtomic(keyPath, issued.keyPem, PRIVATE_MODE);
  await writeFileAtomic(certPath, issued.certPem, PUBLIC_MODE);
  return { ...issued, certPath, keyPath, issued: true };
}

function stillFits(
  certPem: string,
  keyPem: string,
  ca: CertificateAuthority,
  names: SubjectNames,
  now: Date,
): boolean {
  try {
    const certificate = new X509Certificate(certPem);
    if (!keyMatchesCertificate(keyPem, certificate)) return false;
    // Issuer name (and key identifiers) are the CA's, and the CA's key made the signature.
    if (!certificate.checkIssued(ca.certificate)) return false;
    if (!certificate.verify(ca.certificate.publicKey)) return false;
    // Written so that an unreadable date (NaN) fails the check.
    const notBefore = Date.parse(certificate.validFrom);
    const notAfter = Date.parse(certificate.validTo);
    if (!(notBefore <= now.getTime())) return false;
    if (!(notAfter - now.getTime() > RENEW_BEFORE_MS)) return false;
    return namesCovered(subjectAltNames(certificate), names);
  } catch {
    // Anything unreadable is simply replaced: this certificate is ours to re-make.
    return false;
  }
}

/**
 * The DNS and IP SANs from Node's `subjectAltName` text, e.g.
 * `DNS:localhost, DNS:*.azurecr.localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1`.
 */
function subjectAltNames(certificate: X509Certificate): SubjectNames {
  const names: SubjectNames = { dns: [], ips: [] };
  for (const entry of splitAltNames(certificate.subjectAltName ?? '')) {
    if (entry.startsWith('DNS:')) names.dns.push(entry.slice('DNS:'.length));
    else if (entry.startsWith('IP Address:')) names.ips.push(entry.slice('IP Address:'.length));
  }
  return names;
}

// Node's own pattern (lib/tls.js): a JSON string excludes raw control characters.
// eslint-disable-next-line no-control-regex
const JSON_STRING = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/;

/**
 * Splits the `subjectAltName` text at ", ". Node writes a value holding a comma, a quote or
 * another special character as a JSON string (`DNS:"a, b"`), so a separator inside quotes is
 * not one: the same rule as `node:tls`'s own hostname check.
 */
function splitAltNames(text: string): string[] {
  if (text === '') return [];
  const entries: string[] = [];
  let current = '';
  let offset = 0;
  while (offset < text.length) {
    const separator = text.indexOf(', ', offset);
    const quote = text.indexOf('"', offset);
    if (quote !== -1 && (separator === -1 || quote < separator)) {
      current += text.slice(offset, quote);
      const match = JSON_STRING.exec(text.slice(quote));
      if (!match) throw new Error(`unreadable subjectAltName: ${text}`);
      current += JSON.parse(match[0]) as string;
      offset = quote + match[0].length;
    } else if (separator !== -1) {
      entries.push(current + text.slice(offset, separator));
      current = '';
      offset = separator + 2;
    } else {
      current += text.slice(offset);
      offset = text.length;
    }
  }
  entries.push(current);
  return entries;
}

async function issue(
  ca: CertificateAuthority,
  names: SubjectNames,
  now: Date,
): Promise<{ certPem: string; keyPem: string }> {
  const { x509 } = await import('./x509.js');
  // The CA as the library sees it: its subject name and public key go into this certificate.
  const issuer = new x509.X509Certificate(ca.certPem);
  const keys = await generateKeyPair();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  // Never outlive the issuer: clients reject a chain past the CA's notAfter anyway.
  const notAfter = new Date(
    Math.min(notBefore.getTime() + SERVER_VALIDITY_MS, issuer.notAfter.getTime()),
  );
  const certificate = await x509.X509CertificateGenerator.create({
    // Clients match the SANs only; the CN is for people reading a certificate viewer.
    subject: 'CN=Breakwater server',
    issuer: issuer.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey),
    ],
  });
  return { certPem: certificate.toString('pem') + '\n', keyPem: privateKeyToPem(keys.privateKey) };
}
