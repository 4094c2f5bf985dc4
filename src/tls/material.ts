/**
 * @module tls/material
 * The TLS material a listener serves when no certificate is configured: the platform CA plus a
 * server certificate for the requested names, kept under one directory.
 *
 * ```
 * <dir>/
 *   ca.key       0600  the CA's private key (never leaves this directory)
 *   ca.crt       0644  what clients trust
 *   server.key   0600
 *   server.crt   0644  issued by ca.crt for the requested DNS names and IP addresses
 * ```
 */
import { resolve } from 'node:path';
import { loadOrCreateCa } from './ca.js';
import { ensureDirectory } from './files.js';
import { normalizeNames, type SubjectNames } from './names.js';
import { loadOrIssueServerCertificate } from './server-certificate.js';

export interface TlsMaterial {
  /** Server private key (PEM). */
  key: string;
  /** Server certificate (PEM). */
  cert: string;
  /** CA certificate (PEM): what clients must trust. */
  ca: string;
  caPath: string;
  certPath: string;
  keyPath: string;
}

/** One run at a time per directory in this process, so two callers never write two CAs. */
const inFlight = new Map<string, Promise<unknown>>();

/**
 * Ensures `<dir>/ca.key`, `ca.crt`, `server.key` and `server.crt` exist and fit `names`: the CA
 * is made once; the server certificate is re-issued when it does not cover every requested name
 * or expires within 30 days. DNS names may include wildcards ("*.azurecr.localhost"); an IP
 * literal given as a DNS name is treated as an IP address.
 */
export async function ensureTlsMaterial(dir: string, names: SubjectNames): Promise<TlsMaterial> {
  const requested = normalizeNames(names);
  const key = resolve(dir);
  const previous = inFlight.get(key) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => ensureNow(key, requested));
  inFlight.set(key, run);
  try {
    return await run;
  } finally {
    if (inFlight.get(key) === run) inFlight.delete(key);
  }
}

async function ensureNow(dir: string, names: SubjectNames): Promise<TlsMaterial> {
  await ensureDirectory(dir);
  const now = new Date();
  const ca = await loadOrCreateCa(dir, now);
  const server = await loadOrIssueServerCertificate(dir, ca, names, now);
  return {
    key: server.keyPem,
    cert: server.certPem,
    ca: ca.certPem,
    caPath: ca.certPath,
    certPath: server.certPath,
    keyPath: server.keyPath,
  };
}
