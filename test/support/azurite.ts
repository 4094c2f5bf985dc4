/**
 * @module test/support/azurite
 * A throwaway Azurite blob service (the npm `azurite` dev dependency, Microsoft's Azure Storage
 * emulator) for tests: in memory, on a port the OS picks, telemetry off, stopped at the end.
 * One per test file; each store gets its own container (`newContainer`).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './server.js';

/** Azurite's well-known development account (public, documented by Microsoft). */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteServer {
  port: number;
  /** Connection string for the emulator's account. */
  connectionString: string;
  /** A fresh container name (created by the store on open). */
  newContainer(): string;
  /** Everything Azurite printed. */
  output(): string;
  stop(): Promise<void>;
}

export async function startAzurite(): Promise<AzuriteServer> {
  const workDir = mkdtempSync(join(tmpdir(), 'breakwater-azurite-'));
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js'),
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--inMemoryPersistence',
      '--disableTelemetry',
      // The SDK may speak a newer service version than the emulator knows; the calls we use
      // are the same in both.
      '--skipApiVersionCheck',
    ],
    { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not start in 30 s:\n${output}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePort(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with ${code}:\n${output}`));
    });
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const killNow = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killNow);
  return {
    port,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};` +
      `BlobEndpoint=http://127.0.0.1:${port}/${ACCOUNT};`,
    newContainer: () => `bw-${randomUUID().slice(0, 18)}`,
    output: () => output,
    async stop() {
      process.removeListener('exit', killNow);
      killNow();
      await exited;
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
