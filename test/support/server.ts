/**
 * @module test/support/server
 * Starts the real `breakwater serve` (the compiled bin, as a user runs it) in a child process on
 * a free loopback port with a fresh data directory, and stops it. Interop, conformance and crash
 * tests use it; HTTP unit tests use `inject` instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(REPO_ROOT, 'bin', 'breakwater.js');
/** The Node flags the bin's shebang and `npm start` run the server with. */
export const NODE_FLAGS = ['--max-semi-space-size=4'];

export interface RunningServer {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  /** e.g. `127.0.0.1:41234`: the default registry's host alias, usable by skopeo/podman. */
  host: string;
  port: number;
  dataDir: string;
  /** The management listener's URL (HTTPS, the server's own CA at `caPath`). */
  managementUrl: string;
  caPath: string;
  /** The bootstrap owner (Owner on the subscription): `<data>/bootstrap.json`. */
  owner: { tenantId: string; subscriptionId: string; clientId: string; clientSecret: string };
  /** `Basic ...` header for the owner, for raw HTTP clients. */
  authHeader: string;
  process: ChildProcess;
  /** Everything the server wrote to stdout and stderr so far (JSON log lines). */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit (crash simulation). */
  kill(): Promise<void>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export interface StartOptions {
  /** Reuse a data directory (restart after a crash); a fresh temporary one otherwise. */
  dataDir?: string;
  port?: number;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** `https` when the data endpoint serves TLS (`--data-tls`). */
  scheme?: 'http' | 'https';
  /** The address to listen on (IPv4 or IPv6, no brackets); 127.0.0.1 by default. */
  address?: string;
}

/**
 * Readiness probe; over TLS it skips verification (the CA may not exist before the start). Its
 * connection is not kept alive: an idle socket left in the test process's fetch pool would be
 * reused by a test's first request a minute later, just as the server closes it (keep-alive
 * timeout), and fail with "other side closed".
 */
async function healthy(url: string): Promise<boolean> {
  const get = url.startsWith('http:') ? httpGet : httpsGet;
  return new Promise((resolveProbe) => {
    const probe = get(
      `${url}/healthz`,
      { rejectUnauthorized: false, agent: false, headers: { connection: 'close' } },
      (res) => {
        res.resume();
        resolveProbe(res.statusCode === 200);
      },
    );
    probe.on('error', () => resolveProbe(false));
  });
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'breakwater-test-'));
  const address = options.address ?? '127.0.0.1';
  const port = options.port ?? (await freePort(address));
  const host = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  const child = spawn(
    process.execPath,
    [
      ...NODE_FLAGS,
      BIN,
      'serve',
      '--data',
      dataDir,
      '--listen',
      host,
      '--management-listen',
      '127.0.0.1:0',
      ...(options.extraArgs ?? []),
    ],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) =>
    child.once('exit', (code) => resolveExit(code)),
  );

  const url = `${options.scheme ?? 'http'}://${host}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`breakwater serve exited with ${child.exitCode}:\n${output}`);
    }
    try {
      if (await healthy(url)) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`breakwater serve did not become healthy in 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  // bootstrap.json and endpoints.json are written once both listeners are up.
  let endpoints: { pid: number; management: string } | undefined;
  while (endpoints?.pid !== child.pid) {
    try {
      endpoints = JSON.parse(
        readFileSync(join(dataDir, 'endpoints.json'), 'utf8'),
      ) as typeof endpoints;
    } catch {
      // not written yet
    }
    if (endpoints?.pid === child.pid) break;
    // Never leave a server behind: a child that does not get ready is killed, not orphaned.
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`breakwater serve did not write endpoints.json in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const managementUrl = endpoints!.management;
  const owner = JSON.parse(
    readFileSync(join(dataDir, 'bootstrap.json'), 'utf8'),
  ) as RunningServer['owner'];
  return {
    url,
    host,
    port,
    dataDir,
    managementUrl,
    caPath: join(dataDir, 'tls', 'ca.crt'),
    owner,
    authHeader: `Basic ${Buffer.from(`${owner.clientId}:${owner.clientSecret}`).toString('base64')}`,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Removes a data directory made by startServer (call after stop). */
export function removeDataDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
}

/**
 * Interop tests need real clients. Off CI a missing client skips the suite with a loud reason;
 * with CI=true it is a failure, because CI must install every client (.ci/run).
 */
export function requireClient(name: string, available: boolean): boolean {
  if (available) return true;
  const message = `interop client '${name}' is not installed: run .ci/run or apt-get install ${name}`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n*** SKIPPING: ${message} ***\n`);
  return false;
}
