/**
 * @module test/support/clients
 * Runs the real container clients (skopeo, podman) for interop tests, hermetically: each
 * ClientSandbox has its own temporary HOME, XDG dirs, auth file, policy, registries.conf,
 * containers.conf and podman storage (vfs driver, private root/runroot/tmpdir), so tests never
 * touch the machine's image store or credentials and work as root without systemd.
 *
 * The one piece of shared state left is containers/image's blob-info cache, which as root lives
 * in /var/lib/containers/cache with no flag to move it; it only holds hints (which registry repo
 * has which blob) that clients verify before use, keyed by host:port.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface RunResult {
  /** The command line, for messages. */
  command: string;
  /** Exit code; -1 when the process was killed (timeout) or never ran. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default 5 minutes. */
  timeoutMs?: number;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Runs `file args` without a shell; never throws for a non-zero exit, only reports it. */
export async function run(
  file: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const command = [file, ...args].map(quote).join(' ');
  try {
    const { stdout, stderr } = await execFileAsync(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8',
    });
    return { command, code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & {
      code?: number | string;
      stdout?: string;
      stderr?: string;
      killed?: boolean;
      signal?: string | null;
    };
    const exit = typeof failure.code === 'number' ? failure.code : -1;
    let stderr = failure.stderr ?? '';
    if (failure.killed || failure.signal) stderr += `\n[killed by ${failure.signal ?? 'timeout'}]`;
    if (typeof failure.code === 'string') stderr += `\n[${failure.code}: ${failure.message}]`;
    return { command, code: exit, stdout: failure.stdout ?? '', stderr };
  }
}

/** Human-readable account of a client run, for assertion messages and reports. */
export function describeRun(result: RunResult): string {
  return [
    `$ ${result.command}`,
    `exit code: ${result.code}`,
    `--- stdout ---\n${result.stdout.trimEnd()}`,
    `--- stderr ---\n${result.stderr.trimEnd()}`,
  ].join('\n');
}

/**
 * Returns the result if the command exited 0, else throws with the command, its output and
 * whatever `context` adds (e.g. the server's log), so a failing test says what the user saw.
 */
export function expectSuccess(result: RunResult, context?: () => string): RunResult {
  if (result.code === 0) return result;
  const extra = context ? `\n${context()}` : '';
  throw new Error(`client command failed\n${describeRun(result)}${extra}`);
}

/** Whether `name` can be executed (`name --version` exits 0). */
export async function commandAvailable(name: string): Promise<boolean> {
  const result = await run(name, ['--version'], { timeoutMs: 30_000 });
  return result.code === 0;
}

export const POLICY_JSON = JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] });

/** A private configuration + storage universe for skopeo and podman. */
export class ClientSandbox {
  private constructor(
    readonly dir: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  static async create(prefix = 'breakwater-clients-'): Promise<ClientSandbox> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    const path = (...parts: string[]) => join(dir, ...parts);
    for (const sub of ['home', 'xdg-runtime', 'xdg-config', 'xdg-data', 'tmp', 'podman-tmp']) {
      await mkdir(path(sub), { recursive: true, mode: 0o700 });
    }
    await writeFile(path('policy.json'), POLICY_JSON);
    await writeFile(path('auth.json'), JSON.stringify({ auths: {} }));
    // Only fully-qualified names (127.0.0.1:PORT/...), no search registries, no aliases.
    await writeFile(
      path('registries.conf'),
      'unqualified-search-registries = []\nshort-name-mode = "enforcing"\n',
    );
    await writeFile(
      path('containers.conf'),
      [
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `tmp_dir = "${path('podman-tmp')}"`,
        '',
      ].join('\n'),
    );
    await writeFile(
      path('storage.conf'),
      [
        '[storage]',
        'driver = "vfs"',
        `graphroot = "${path('storage', 'root')}"`,
        `runroot = "${path('storage', 'run')}"`,
        '',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: path('home'),
      XDG_RUNTIME_DIR: path('xdg-runtime'),
      XDG_CONFIG_HOME: path('xdg-config'),
      XDG_DATA_HOME: path('xdg-data'),
      TMPDIR: path('tmp'),
      REGISTRY_AUTH_FILE: path('auth.json'),
      CONTAINERS_CONF: path('containers.conf'),
      CONTAINERS_REGISTRIES_CONF: path('registries.conf'),
      CONTAINERS_STORAGE_CONF: path('storage.conf'),
    };
    return new ClientSandbox(dir, env);
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /**
   * Stores registry credentials where skopeo and podman read them (REGISTRY_AUTH_FILE), as
   * `podman login` would: the clients then do the registry's token flow themselves.
   */
  async login(host: string, username: string, password: string): Promise<void> {
    const auth = Buffer.from(`${username}:${password}`).toString('base64');
    await writeFile(this.path('auth.json'), JSON.stringify({ auths: { [host]: { auth } } }), {
      mode: 0o600,
    });
  }

  /** Global podman flags: private vfs storage, cgroupfs, file events; works as root, no systemd. */
  podmanGlobalFlags(): string[] {
    return [
      '--root',
      this.path('storage', 'root'),
      '--runroot',
      this.path('storage', 'run'),
      '--tmpdir',
      this.path('podman-tmp'),
      '--storage-driver',
      'vfs',
      '--cgroup-manager',
      'cgroupfs',
      '--events-backend',
      'file',
    ];
  }

  skopeo(args: string[], options: RunOptions = {}): Promise<RunResult> {
    return run('skopeo', ['--policy', this.path('policy.json'), ...args], {
      env: this.env,
      ...options,
    });
  }

  podman(args: string[], options: RunOptions = {}): Promise<RunResult> {
    return run('podman', [...this.podmanGlobalFlags(), ...args], { env: this.env, ...options });
  }

  /** Removes the sandbox (podman's vfs storage included). */
  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
