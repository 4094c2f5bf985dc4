/**
 * @module test/support/s3rver
 * A throwaway S3 server for tests: s3rver (the npm dev dependency; the most complete S3
 * implementation that installs here: no network beyond npm and Debian, so no MinIO, Ceph RGW or
 * LocalStack), on a port the OS picks, storing under a temp directory, stopped at the end.
 * One per test file; each store gets its own bucket (`newBucket`).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './server.js';

export interface S3Server {
  endpoint: string;
  /** Environment for the AWS SDK's default credential chain (s3rver's fixed key pair). */
  env: Record<string, string>;
  newBucket(): string;
  output(): string;
  stop(): Promise<void>;
}

export async function startS3rver(): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'breakwater-s3rver-'));
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules', 's3rver', 'bin', 's3rver.js'),
      '--directory',
      directory,
      '--address',
      '127.0.0.1',
      '--port',
      '0',
      '--no-vhost-buckets',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`s3rver did not start in 30 s:\n${output}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on port (\d+)|127\.0\.0\.1:(\d+)/i.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePort(Number(match[1] ?? match[2]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}:\n${output}`));
    });
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const killNow = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killNow);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    newBucket: () => `bw-${randomUUID().slice(0, 18)}`,
    output: () => output,
    async stop() {
      process.removeListener('exit', killNow);
      killNow();
      await exited;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
