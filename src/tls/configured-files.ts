/**
 * @module tls/configured-files
 * A certificate and key the operator configured (PEM files), checked before a listener uses
 * them, so a wrong path or a swapped pair fails at start with the file named instead of as an
 * opaque OpenSSL error on the first handshake.
 *
 * The certificate file may hold a chain (leaf first, then intermediates), as `node:tls` expects;
 * the key must belong to the first certificate. Files are returned as read.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { messageOf } from './keys.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Loads a configured cert/key pair (and optional CA bundle), checking they parse and match. */
export async function loadTlsFiles(
  certPath: string,
  keyPath: string,
  caPath?: string,
): Promise<{ key: string; cert: string; ca?: string }> {
  const cert = await readPem(certPath, 'TLS certificate');
  const key = await readPem(keyPath, 'TLS private key');
  const leaf = parseCertificates(cert, certPath, 'TLS certificate')[0] as X509Certificate;
  const privateKey = parsePrivateKey(key, keyPath);
  if (privateKey.asymmetricKeyType !== leaf.publicKey.asymmetricKeyType) {
    throw new Error(
      `TLS private key file ${keyPath} (${privateKey.asymmetricKeyType}) does not match the ` +
        `certificate in ${certPath} (${leaf.publicKey.asymmetricKeyType})`,
    );
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new Error(
      `TLS private key file ${keyPath} does not match the certificate in ${certPath} ` +
        `(the first certificate of the file must be the one the key belongs to)`,
    );
  }
  if (caPath === undefined) return { key, cert };
  const ca = await readPem(caPath, 'TLS CA certificate');
  parseCertificates(ca, caPath, 'TLS CA certificate');
  return { key, cert, ca };
}

async function readPem(path: string, label: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new Error(`${label} file ${path} does not exist`, { cause: error });
    if (code === 'EISDIR')
      throw new Error(`${label} file ${path} is a directory`, { cause: error });
    throw new Error(`cannot read ${label} file ${path}: ${messageOf(error)}`, { cause: error });
  }
}

function parseCertificates(pem: string, path: string, label: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    const hint = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)
      ? ' (it holds a private key: are the certificate and key paths swapped?)'
      : '';
    throw new Error(`${label} file ${path} holds no PEM certificate${hint}`);
  }
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new Error(
        `${label} file ${path}: certificate ${index + 1} does not parse: ${messageOf(error)}`,
        { cause: error },
      );
    }
  });
}

function parsePrivateKey(pem: string, path: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MISSING_PASSPHRASE') {
      throw new Error(`TLS private key file ${path} is encrypted; give an unencrypted PEM key`, {
        cause: error,
      });
    }
    const hint = pem.includes('-----BEGIN CERTIFICATE-----')
      ? ' (it holds a certificate: are the certificate and key paths swapped?)'
      : '';
    throw new Error(
      `TLS private key file ${path} holds no readable PEM private key${hint}: ${messageOf(error)}`,
      { cause: error },
    );
  }
}
