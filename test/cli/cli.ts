/**
 * @module test/cli/cli
 * Runs the compiled `breakwater` CLI as a user would (a child process), with its own config
 * directory, and returns what it printed and its exit code.
 */
import { request as httpRequest } from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BIN,
  removeDataDir,
  REPO_ROOT,
  startServer,
  type RunningServer,
  type StartOptions,
} from '../support/server.js';

export interface CliResult {
  stdout: string;
  stderr: string;
  status: number | null;
  json<T = unknown>(): T;
}

export function makeConfigDir(): string {
  return mkdtempSync(join(tmpdir(), 'breakwater-cli-'));
}

export function cli(args: string[], env: Record<string, string>): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return {
    stdout: result.stdout,
    stderr: result.stderr,
    status: result.status,
    json<T>() {
      return JSON.parse(result.stdout) as T;
    },
  };
}

/** A live server and a CLI config directory of its own (not logged in yet). */
export interface CliSession {
  server: RunningServer;
  configDir: string;
  /** The environment every CLI call gets: its config directory and the server's data dir. */
  env: Record<string, string>;
  run(...args: string[]): CliResult;
  close(): Promise<void>;
}

export async function startCliSession(options: StartOptions = {}): Promise<CliSession> {
  const server = await startServer(options);
  const configDir = makeConfigDir();
  const env = { BREAKWATER_CONFIG_DIR: configDir, BREAKWATER_DATA: server.dataDir };
  return {
    server,
    configDir,
    env,
    run: (...args) => cli(args, env),
    async close() {
      await server.stop();
      removeDataDir(server.dataDir);
      rmSync(configDir, { recursive: true, force: true });
    },
  };
}

/**
 * One plain HTTP request on a fresh connection. The CLI suites block the event loop in
 * `spawnSync` for seconds at a time; a pooled keep-alive socket (as `fetch` keeps) can be
 * closed by the server meanwhile without the client noticing, and its next use fails with
 * "other side closed". A new connection per request cannot go stale.
 */
export function dataRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    const request = httpRequest(
      url,
      {
        method: init.method ?? 'GET',
        agent: false,
        headers: {
          ...init.headers,
          ...(body ? { 'content-length': String(body.length) } : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
