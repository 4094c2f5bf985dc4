/**
 * @module runtime/sandbox
 * Runs a command inside an unpacked root filesystem with bubblewrap: its own mount, PID, IPC,
 * UTS and network namespaces (no network: a build step or job reaches nothing), a fresh /proc
 * and /dev, the image's environment, working directory and user, and a time limit after which
 * the whole sandbox is killed. Output streams to the caller as it comes.
 */
import { spawn } from 'node:child_process';
import { access, constants, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const BWRAP = process.env.BREAKWATER_BWRAP ?? '/usr/bin/bwrap';

export interface SandboxCommand {
  /** The unpacked root filesystem (read-write: a build step's changes stay in it). */
  root: string;
  argv: string[];
  env: string[];
  /** Working directory inside the root (created if missing, as Docker does). */
  workingDir?: string;
  /** `uid[:gid]`, numeric or a name from the image's /etc/passwd and /etc/group. */
  user?: string;
  timeoutMs: number;
  onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** Aborting kills the sandbox (a cancelled run). */
  signal?: AbortSignal;
}

export interface SandboxResult {
  exitCode: number;
  timedOut: boolean;
  cancelled: boolean;
}

export class SandboxError extends Error {
  override name = 'SandboxError';
}

/** Whether bubblewrap is installed here. */
export async function sandboxAvailable(): Promise<boolean> {
  return access(BWRAP, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Resolves `user` against the image's passwd/group files to numeric ids. */
export async function resolveUser(
  root: string,
  user: string | undefined,
): Promise<{ uid: number; gid: number }> {
  if (!user) return { uid: 0, gid: 0 };
  const [userPart = '', groupPart] = user.split(':');
  const table = async (file: string) =>
    (await readFile(join(root, 'etc', file), 'utf8').catch(() => ''))
      .split('\n')
      .map((line) => line.split(':'));
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const entry = (await table('passwd')).find((fields) => fields[2] === userPart);
    if (entry) gid = Number(entry[3]);
  } else {
    const entry = (await table('passwd')).find((fields) => fields[0] === userPart);
    if (!entry)
      throw new SandboxError(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const entry = (await table('group')).find((fields) => fields[0] === groupPart);
      if (!entry)
        throw new SandboxError(
          `unable to find group ${groupPart}: no matching entries in group file`,
        );
      gid = Number(entry[2]);
    }
  }
  return { uid, gid: gid ?? uid };
}

/** Runs the command; resolves with its exit code (never throws for a non-zero exit). */
export async function runInSandbox(command: SandboxCommand): Promise<SandboxResult> {
  if (!(await sandboxAvailable())) {
    throw new SandboxError(
      `bubblewrap is not installed (${BWRAP}); install the 'bubblewrap' package`,
    );
  }
  const workingDir = command.workingDir || '/';
  await mkdir(join(command.root, workingDir), { recursive: true });
  const { uid, gid } = await resolveUser(command.root, command.user);
  const args = [
    '--bind',
    command.root,
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--hostname',
    'buildkitsandbox',
    '--clearenv',
  ];
  if (uid !== 0 || gid !== 0)
    args.push('--unshare-user', '--uid', String(uid), '--gid', String(gid));
  for (const pair of command.env) {
    const equals = pair.indexOf('=');
    if (equals > 0) args.push('--setenv', pair.slice(0, equals), pair.slice(equals + 1));
  }
  args.push('--chdir', workingDir, '--', ...command.argv);

  return new Promise((resolve, reject) => {
    const child = spawn(BWRAP, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    let cancelled = false;
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, command.timeoutMs);
    const onAbort = () => {
      cancelled = true;
      kill();
    };
    command.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => command.onOutput(chunk, 'stdout'));
    child.stderr.on('data', (chunk: Buffer) => command.onOutput(chunk, 'stderr'));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new SandboxError(`could not start the sandbox: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      command.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode: code ?? (signal ? 128 + 9 : 1), timedOut, cancelled });
    });
  });
}
