/**
 * @module test/interop/listen-server
 * `breakwater serve` on an address of the test's choosing (test/support/server.ts always listens
 * on 127.0.0.1): the same command line (`node --max-semi-space-size=4 bin/breakwater.js serve
 * --data DIR --listen HOST:PORT --management-listen 127.0.0.1:0`), the same readiness wait and
 * the same `endpoints.json` / `bootstrap.json` reading, returning a `RunningServer` so
 * `ArmClient` works with it. Its default registry answers on `HOST:PORT` (the listener's alias).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, freePort, NODE_FLAGS, REPO_ROOT, type RunningServer } from '../support/server.js';

/** Starts the server listening on `address` (an IPv4 or IPv6 address, no brackets). */
export async function startServerOn(
  address: string,
  extraArgs: string[] = [],
): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'breakwater-test-'));
  const port = await freePort(address);
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
      ...extraArgs,
    ],
    { cwd: REPO_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) =>
    child.once('exit', (code) => resolveExit(code)),
  );

  const url = `http://${host}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`breakwater serve exited with ${child.exitCode}:\n${output}`);
    }
    try {
      const response = await fetch(`${url}/healthz`);
      await response.arrayBuffer();
      if (response.status === 200) break;
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
    if (endpoints?.pid !== child.pid) await new Promise((r) => setTimeout(r, 20));
  }
  const owner = JSON.parse(
    readFileSync(join(dataDir, 'bootstrap.json'), 'utf8'),
  ) as RunningServer['owner'];
  return {
    url,
    host,
    port,
    dataDir,
    managementUrl: endpoints!.management,
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
