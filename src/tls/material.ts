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
import { existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CA_CERT_FILE, CA_KEY_FILE, loadOrCreateCa } from './ca.js';
import { ensureDirectory } from './files.js';
import { normalizeNames, type SubjectNames } from './names.js';
import {
  loadOrIssueServerCertificate,
  SERVER_CERT_FILE,
  SERVER_KEY_FILE,
} from './server-certificate.js';

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

/**
 * `ensureTlsMaterial` for a server process: on a first start (files missing) the CA and the
 * certificate are made in a worker thread, so `@peculiar/x509` (about 17 MiB resident) never
 * loads into the server's own heap; then the files are read here with `node:crypto` only. Run
 * from the TypeScript sources (tests), where no compiled worker exists, it works in-thread.
 */
export async function ensureTlsMaterialOffThread(
  dir: string,
  names: SubjectNames,
): Promise<TlsMaterial> {
  const worker = new URL('./material-worker.js', import.meta.url);
  if (!(await allPresent(dir)) && existsSync(fileURLToPath(worker))) {
    await new Promise<void>((done, failed) => {
      const thread = new Worker(worker, { workerData: { dir, names } });
      thread.once('error', failed);
      thread.once('exit', (code) =>
        code === 0 ? done() : failed(new Error(`TLS material worker exited with ${code}`)),
      );
    });
  }
  return ensureTlsMaterial(dir, names);
}

async function allPresent(dir: string): Promise<boolean> {
  const files = [CA_KEY_FILE, CA_CERT_FILE, SERVER_KEY_FILE, SERVER_CERT_FILE];
  try {
    await Promise.all(files.map((file) => access(join(dir, file))));
    return true;
  } catch {
    return false;
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
