/**
 * @module test/cli/cli
 * Runs the compiled `breakwater` CLI as a user would (a child process), with its own config
 * directory, and returns what it printed and its exit code.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, REPO_ROOT } from '../support/server.js';

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
