/**
 * @module bench/lib/servers
 * Starts the two registries under test as child processes on free loopback ports, each with a
 * fresh data directory, and reads their peak resident memory (VmHWM) before stopping them.
 *
 * - Breakwater: `node bin/breakwater.js serve --data DIR --listen 127.0.0.1:PORT --log-level warn`
 *   exactly as the README runs it (optionally under `node --cpu-prof`).
 * - CNCF Distribution: Debian's `docker-registry serve CONFIG.yml` with filesystem storage, no
 *   auth, deletes enabled, the in-memory blob descriptor cache of its stock config, and error-level
 *   logs without an access log (Breakwater logs no line per request at `warn` either).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

export type ServerKind = 'breakwater' | 'distribution';

export interface Credentials {
  username: string;
  password: string;
}

export const SERVER_LABEL: Record<ServerKind, string> = {
  breakwater: 'Breakwater',
  distribution: 'Distribution',
};

export interface RunningServer {
  kind: ServerKind;
  /** `127.0.0.1:PORT`, as skopeo's `docker://` references need it. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  pid: number;
  dataDir: string;
  /**
   * Credentials every client must present, when the server requires authentication (Breakwater
   * builds with registry authentication: the bootstrap owner from `<data>/bootstrap.json`).
   */
  credentials?: Credentials;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRss(): Promise<number>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** The data directory (created if missing; a fresh one per measured run). */
  dataDir: string;
  /** Where a server may put config files and logs. */
  workDir: string;
}

export interface BreakwaterOptions extends StartOptions {
  repoRoot: string;
  /** Run under `node --cpu-prof`, writing `<name>.cpuprofile` into this directory on exit. */
  cpuProfile?: { dir: string; name: string };
  extraArgs?: string[];
  env?: Record<string, string>;
}

export interface DistributionOptions extends StartOptions {
  binary: string;
}

export const DEFAULT_DISTRIBUTION_BINARY = '/usr/bin/docker-registry';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not find a free port'));
      });
    });
  });
}

/** VmHWM of a live process in bytes (Linux). */
/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU seconds (user + system) from /proc: of process `pid`, or with `children` of the children
 * this process has waited for (every skopeo it ran).
 */
export async function readCpuSeconds(pid: number | 'self', children = false): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces: field N is at index N - 3.
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const [user, system] = children ? [fields[13]!, fields[14]!] : [fields[11]!, fields[12]!];
  return (user + system) / USER_HZ;
}

export async function readPeakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

function supervise(
  kind: ServerKind,
  child: ChildProcess,
  port: number,
  dataDir: string,
  readyPath: string,
): Promise<RunningServer> {
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-16_384);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      keep(Buffer.from(String(error)));
      resolve();
    });
  });
  let gone = false;
  void exited.then(() => (gone = true));

  const server: RunningServer = {
    kind,
    host,
    url,
    pid: child.pid ?? -1,
    dataDir,
    peakRss: () => readPeakRss(child.pid ?? -1),
    async stop(graceMs = 20_000) {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };

  return (async () => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (gone) break;
      try {
        const response = await fetch(`${url}${readyPath}`);
        await response.arrayBuffer();
        if (response.status === 200) return server;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await server.stop(1000);
    throw new Error(`${SERVER_LABEL[kind]} did not become ready on ${url}; output:\n${output}`);
  })();
}

/**
 * The Node flags the bin's `#!/usr/bin/env -S node ...` line gives the server (its young
 * generation's size): run as `node bin/breakwater.js`, the shebang is not read, and the bench
 * must measure the server as users start it (`breakwater`, `npm start`).
 */
async function shebangNodeFlags(bin: string): Promise<string[]> {
  const first = (await readFile(bin, 'utf8')).split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node\b(.*)$/.exec(first);
  return match ? match[1]!.trim().split(/\s+/).filter(Boolean) : [];
}

export async function startBreakwater(options: BreakwaterOptions): Promise<RunningServer> {
  await mkdir(options.dataDir, { recursive: true });
  const port = await freePort();
  // Builds with a management listener would otherwise all want its default port; older builds
  // ignore the variable.
  const managementPort = await freePort();
  const bin = join(options.repoRoot, 'bin', 'breakwater.js');
  const nodeArgs = [
    ...(await shebangNodeFlags(bin)),
    ...(options.cpuProfile
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${options.cpuProfile.dir}`,
          `--cpu-prof-name=${options.cpuProfile.name}.cpuprofile`,
        ]
      : []),
  ];
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      bin,
      'serve',
      '--data',
      options.dataDir,
      '--listen',
      `127.0.0.1:${port}`,
      '--log-level',
      'warn',
      ...(options.extraArgs ?? []),
    ],
    {
      cwd: options.workDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        BREAKWATER_MANAGEMENT_LISTEN: `127.0.0.1:${managementPort}`,
        ...options.env,
      },
    },
  );
  const server = await supervise('breakwater', child, port, options.dataDir, '/healthz');
  try {
    const credentials = await bootstrapCredentials(server, options.dataDir);
    return credentials ? { ...server, credentials } : server;
  } catch (error) {
    await server.stop(1000);
    throw error;
  }
}

/**
 * When `/v2/` asks for credentials, the bootstrap owner's, which the server writes to
 * `<data>/bootstrap.json` once its listeners are up (`endpoints.json` names the writing pid).
 * Undefined for builds without authentication.
 */
async function bootstrapCredentials(
  server: RunningServer,
  dataDir: string,
): Promise<Credentials | undefined> {
  const probe = await fetch(`${server.url}/v2/`);
  await probe.arrayBuffer();
  if (probe.status !== 401) return undefined;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const endpoints = JSON.parse(await readFile(join(dataDir, 'endpoints.json'), 'utf8')) as {
        pid?: number;
      };
      if (endpoints.pid === server.pid) {
        const owner = JSON.parse(await readFile(join(dataDir, 'bootstrap.json'), 'utf8')) as {
          clientId: string;
          clientSecret: string;
        };
        return { username: owner.clientId, password: owner.clientSecret };
      }
    } catch {
      // not written yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`Breakwater asks for credentials but wrote no bootstrap.json in ${dataDir}`);
}

export function distributionConfig(dataDir: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(dataDir)}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

export async function startDistribution(options: DistributionOptions): Promise<RunningServer> {
  if (!existsSync(options.binary)) {
    throw new Error(`${options.binary} is missing: apt-get install -y docker-registry`);
  }
  await mkdir(options.dataDir, { recursive: true });
  await mkdir(options.workDir, { recursive: true });
  const port = await freePort();
  const configPath = join(options.workDir, `distribution-${port}.yml`);
  await writeFile(configPath, distributionConfig(options.dataDir, port));
  const child = spawn(options.binary, ['serve', configPath], {
    cwd: options.workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return supervise('distribution', child, port, options.dataDir, '/v2/');
}
