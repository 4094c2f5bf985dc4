/**
 * @module test/support/postgres
 * A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries, `initdb` into a temp
 * directory, listening on a free loopback port (and a socket in that directory), stopped and
 * removed at the end. No pre-started service is needed, so CI only installs the package.
 *
 * `initdb` refuses to run as root: as root the cluster belongs to the `postgres` user the
 * Debian package creates, and the commands run through `runuser`.
 *
 * The cluster's default collation is ICU `en-US` on purpose: it orders `a-b` and `a_b`
 * differently from byte order, so a listing that relied on the database's collation would fail
 * the contract suite instead of passing by luck.
 *
 * One server per test file; each store gets its own database (`createDatabase`).
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { run, type RunResult } from './clients.js';
import { freePort } from './server.js';

export interface PostgresServer {
  port: number;
  /** `postgres://breakwater@127.0.0.1:PORT/DB` for an existing database. */
  url(database: string): string;
  /** Creates an empty database with a unique name and returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (immediate mode) and removes its directory. */
  stop(): Promise<void>;
}

const USER = 'breakwater';

/** The directory holding Debian's initdb/pg_ctl (not on PATH there), newest version first. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const dir = join(root, version, 'bin');
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

/**
 * Whether the PostgreSQL server is installed. Off CI a missing server skips the suite loudly;
 * with CI=true it fails, because .ci/run installs it.
 */
export function requirePostgres(): boolean {
  if (postgresBinDir()) return true;
  const message = 'PostgreSQL server is not installed: run .ci/run or apt-get install postgresql';
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n*** SKIPPING: ${message} ***\n`);
  return false;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Runs a PostgreSQL binary as the owner of the cluster (`postgres` when we are root). */
async function asOwner(binary: string, args: string[]): Promise<RunResult> {
  return isRoot()
    ? run('runuser', ['-u', 'postgres', '--', binary, ...args], { timeoutMs: 120_000 })
    : run(binary, args, { timeoutMs: 120_000 });
}

function ownerIds(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'breakwater-pg-'));
  const owner = ownerIds();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const dataDir = join(dir, 'data');
  const fail = (what: string, result: RunResult): never => {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${what} failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  };

  const init = await asOwner(join(bin, 'initdb'), [
    '--pgdata',
    dataDir,
    '--username',
    USER,
    '--auth',
    'trust',
    '--encoding',
    'UTF8',
    '--locale-provider',
    'icu',
    '--icu-locale',
    'en-US',
    '--locale',
    'C.UTF-8',
    '--no-sync',
  ]);
  if (init.code !== 0) fail('initdb', init);

  const port = await freePort();
  // Durability settings off: a test cluster is thrown away, and fsync would only cost time.
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ');
  const start = await asOwner(join(bin, 'pg_ctl'), [
    '--pgdata',
    dataDir,
    '--options',
    options,
    '--log',
    join(dir, 'server.log'),
    '--wait',
    'start',
  ]);
  if (start.code !== 0) fail('pg_ctl start', start);

  let stopped = false;
  const stopNow = () => {
    if (stopped) return;
    stopped = true;
    const args = ['--pgdata', dataDir, '--mode', 'immediate', '--wait', 'stop'];
    try {
      execFileSync(
        isRoot() ? 'runuser' : join(bin, 'pg_ctl'),
        isRoot() ? ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args] : args,
        { stdio: 'ignore' },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  // A test run that dies without its afterAll must not leave a server behind.
  process.once('exit', stopNow);

  const url = (database: string) => `postgres://${USER}@127.0.0.1:${port}/${database}`;
  let counter = 0;
  return {
    port,
    url,
    async createDatabase() {
      counter += 1;
      const name = `bw_${process.pid}_${counter}`;
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop() {
      process.removeListener('exit', stopNow);
      stopNow();
    },
  };
}
