/**
 * @module bench/run
 * `npm run bench`: Breakwater against CNCF Distribution on the same machine, workload by workload,
 * alternating the two servers (A B A B ...) for several rounds, plus the machine's own limits
 * measured in the same run. Writes `bench/results/<stamp>.{json,md,svg}` and `latest.*`.
 * The Restricted workload instead runs W2 on Breakwater twice per round, open and with 10,000 IP
 * rules (bench/lib/network.ts), alternating which goes first.
 *
 * `npm run bench -- --profile` instead runs Breakwater alone under `node --cpu-prof` for W1 raw
 * push, W1 raw pull and W2 push, and writes a summary of where its CPU time goes.
 *
 * See docs/performance.md for the workloads and targets.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureInputs, sizesFor, type Inputs, type Sizes } from './lib/inputs.js';
import { measureLimits, type Limits } from './lib/limits.js';
import { profileMarkdown, summariseProfile } from './lib/profile.js';
import {
  emptySamples,
  renderMarkdown,
  renderSvg,
  summariseFigures,
  summariseLimits,
  summariseRestricted,
  type Report,
  type RestrictedResult,
} from './lib/report.js';
import {
  DEFAULT_DISTRIBUTION_BINARY,
  SERVER_LABEL,
  startBreakwater,
  startDistribution,
  type RunningServer,
  type ServerKind,
} from './lib/servers.js';
import {
  ADMIT_LOOPBACK,
  applyNetworkRules,
  OPEN_RULE_SET,
  restrictedRuleSet,
  type NetworkMode,
} from './lib/network.js';
import {
  w1Raw,
  w1RawPull,
  w1RawPush,
  w1Skopeo,
  w2Many,
  w3Dedupe,
  type PushCpu,
  type RatePair,
} from './lib/workloads.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const WORKLOADS = ['limits', 'w1-skopeo', 'w1-raw', 'w2', 'w3', 'restricted'] as const;
type Workload = (typeof WORKLOADS)[number];
const KINDS: ServerKind[] = ['breakwater', 'distribution'];
const MiB = 1024 * 1024;

const USAGE = `Usage: npm run bench -- [options]

  --quick            small sizes (scale 0.1): a run of under two minutes
  --scale N          size factor (env BENCH_SCALE, default 1: W1 4 x 256 MiB, W2 200 images)
  --rounds N         rounds per workload (env BENCH_ROUNDS, default 5; 3 with --quick)
  --only LIST        comma-separated subset of ${WORKLOADS.join(', ')}
  --concurrency N    parallel skopeo processes in W2 (default 8)
  --profile          profile Breakwater (node --cpu-prof) on W1 raw push/pull and W2 push
  --keep             keep the scratch directory (server data, profiles)
  --help

Environment: BENCH_DIR (scratch and cached inputs, default the OS temp dir),
BENCH_DISTRIBUTION_BIN (default ${DEFAULT_DISTRIBUTION_BINARY}).`;

interface Options {
  scale: number;
  rounds: number;
  only: Set<Workload>;
  concurrency: number;
  profile: boolean;
  keep: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      scale: { type: 'string' },
      rounds: { type: 'string' },
      only: { type: 'string' },
      concurrency: { type: 'string' },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const scale = Number(values.scale ?? process.env.BENCH_SCALE ?? (values.quick ? 0.1 : 1));
  const rounds = Number(values.rounds ?? process.env.BENCH_ROUNDS ?? (values.quick ? 3 : 5));
  const concurrency = Number(values.concurrency ?? 8);
  if (!(scale > 0) || !Number.isInteger(rounds) || rounds < 1 || !(concurrency >= 1)) {
    throw new Error(`bad --scale, --rounds or --concurrency\n${USAGE}`);
  }
  const only = new Set<Workload>();
  for (const name of (values.only ?? WORKLOADS.join(',')).split(',')) {
    if (!(WORKLOADS as readonly string[]).includes(name.trim())) {
      throw new Error(`unknown workload '${name}'\n${USAGE}`);
    }
    only.add(name.trim() as Workload);
  }
  return { scale, rounds, only, concurrency, profile: values.profile, keep: values.keep };
}

const started = Date.now();
function log(message: string): void {
  const elapsed = Math.round((Date.now() - started) / 1000);
  const stamp = `${String(Math.floor(elapsed / 60)).padStart(2, '0')}:${String(elapsed % 60).padStart(2, '0')}`;
  process.stderr.write(`[bench ${stamp}] ${message}\n`);
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? `${result.stdout}${result.stderr}`.trim() : '';
}

function distributionBinary(): string {
  return process.env.BENCH_DISTRIBUTION_BIN ?? DEFAULT_DISTRIBUTION_BINARY;
}

/**
 * skopeo and Debian's docker-registry must be installed. As root with apt-get (a fresh CI-like
 * machine) they are installed here, as .ci/run does for the interop clients; otherwise the run
 * stops with the command to type.
 */
function ensureTools(): void {
  const missing: string[] = [];
  if (!run('skopeo', ['--version'])) missing.push('skopeo');
  if (!existsSync(distributionBinary())) missing.push('docker-registry');
  if (!run('curl', ['--version'])) missing.push('curl');
  if (missing.length === 0) return;
  const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    throw new Error(`missing ${missing.join(', ')}: sudo apt-get install -y ${missing.join(' ')}`);
  }
  log(`installing ${missing.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env,
    }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    if (!install()) throw new Error(`apt-get install ${missing.join(' ')} failed`);
  }
}

function machineInfo(): Record<string, unknown> {
  const dirty = run('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--', 'src', 'bin']) !== '';
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    skopeo: run('skopeo', ['--version']) || 'skopeo (unknown version)',
    distribution: run(distributionBinary(), ['--version']).split(' ').at(-1) ?? 'unknown',
    breakwaterCommit:
      (run('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']) || 'unknown') +
      (dirty ? ' with uncommitted changes in src/' : ''),
  };
}

function sizesText(sizes: Sizes): string {
  const mib = (bytes: number) => `${+(bytes / MiB).toFixed(2)} MiB`;
  return (
    `W1 ${sizes.w1Layers} x ${mib(sizes.w1LayerBytes)}, ` +
    `W2 ${sizes.w2Images} images of ${sizes.w2Layers} x ${sizes.w2LayerBytes / 1024} KiB, ` +
    `W3 ${sizes.w3Tags} tags sharing ${sizes.w3Layers} x ${mib(sizes.w3LayerBytes)}`
  );
}

/** Set once a Breakwater build asked for credentials (the report says so). */
let breakwaterAuthenticated = false;

/** Servers alive right now, so an interrupted run stops them. */
const live = new Set<RunningServer>();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping servers`);
    void Promise.all([...live].map((s) => s.stop(2000))).finally(() => process.exit(130));
  });
}

interface ServerContext {
  scratch: string;
  cpuProfile?: { dir: string; name: string };
  /** Reuse this data directory instead of a fresh one (profiling a pull after a push). */
  dataDir?: string;
  keepData?: boolean;
  extraArgs?: string[];
  env?: Record<string, string>;
}

/** Starts `kind` fresh, runs `body`, stops it, removes its data and flushes dirty pages. */
async function withServer<T>(
  kind: ServerKind,
  name: string,
  context: ServerContext,
  body: (server: RunningServer) => Promise<T>,
): Promise<T> {
  if (interrupted) throw new Error('interrupted');
  const dataDir = context.dataDir ?? join(context.scratch, `${name}-${kind}`);
  const workDir = join(context.scratch, 'work');
  await mkdir(workDir, { recursive: true });
  const server =
    kind === 'breakwater'
      ? await startBreakwater({
          repoRoot: REPO_ROOT,
          dataDir,
          workDir,
          ...(context.cpuProfile ? { cpuProfile: context.cpuProfile } : {}),
          ...(context.extraArgs ? { extraArgs: context.extraArgs } : {}),
          ...(context.env ? { env: context.env } : {}),
        })
      : await startDistribution({ binary: distributionBinary(), dataDir, workDir });
  live.add(server);
  if (server.credentials) breakwaterAuthenticated = true;
  try {
    return await body(server);
  } finally {
    await server.stop();
    live.delete(server);
    if (!context.keepData) await rm(dataDir, { recursive: true, force: true });
    // Write back what this run left dirty so it does not slow the next server's run.
    spawnSync('sync');
  }
}

function fmt(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

async function benchmark(options: Options, inputs: Inputs, scratch: string): Promise<void> {
  const startedAt = new Date();
  const machine = machineInfo();
  const loadStart = loadavg();
  const loadPerRound: number[] = [];
  const samples = emptySamples();
  const limitRounds: Limits[] = [];
  const restrictedRates: Record<NetworkMode, RatePair[]> = { open: [], restricted: [] };
  const notes: string[] = [];
  const pushCommitShare: Record<ServerKind, number[]> = { breakwater: [], distribution: [] };
  const w2PushCpu: Record<ServerKind, PushCpu[]> = { breakwater: [], distribution: [] };
  const w3PushCpu: Record<ServerKind, PushCpu[]> = { breakwater: [], distribution: [] };
  const want = (w: Workload) => options.only.has(w);
  const restrictedRules = want('restricted') ? restrictedRuleSet() : undefined;

  for (let round = 1; round <= options.rounds; round += 1) {
    loadPerRound.push(loadavg()[0]!);
    log(`round ${round}/${options.rounds} (load ${loadavg()[0]!.toFixed(2)})`);
    if (want('limits')) {
      const limits = await measureLimits(scratch, options.scale);
      limitRounds.push(limits);
      log(
        `  limits: sha256 ${fmt(limits.sha256)} MiB/s, tcp ${fmt(limits.tcp)} MiB/s, ` +
          `disk+fsync ${fmt(limits.disk)} MiB/s`,
      );
    }
    const peak: Record<ServerKind, number> = { breakwater: 0, distribution: 0 };
    if (want('w1-skopeo')) {
      for (const kind of KINDS) {
        await withServer(kind, `r${round}-w1-skopeo`, { scratch }, async (server) => {
          const rates = await w1Skopeo(server, inputs.w1, scratch);
          samples['w1-skopeo-push'][kind].push(rates.push);
          samples['w1-skopeo-pull'][kind].push(rates.pull);
          peak[kind] = Math.max(peak[kind], await server.peakRss());
          log(
            `  W1 skopeo ${SERVER_LABEL[kind]}: push ${fmt(rates.push)} MiB/s, ` +
              `pull ${fmt(rates.pull)} MiB/s`,
          );
        });
      }
    }
    if (want('w1-raw')) {
      for (const kind of KINDS) {
        await withServer(kind, `r${round}-w1-raw`, { scratch }, async (server) => {
          const rates = await w1Raw(server, inputs.w1);
          samples['w1-raw-push'][kind].push(rates.push);
          samples['w1-raw-pull'][kind].push(rates.pull);
          pushCommitShare[kind].push(rates.pushCommitShare);
          peak[kind] = Math.max(peak[kind], await server.peakRss());
          log(
            `  W1 raw ${SERVER_LABEL[kind]}: push ${fmt(rates.push)} MiB/s ` +
              `(${fmt(100 * rates.pushCommitShare)}% waiting for commits), ` +
              `pull ${fmt(rates.pull)} MiB/s`,
          );
        });
      }
    }
    if (want('w1-skopeo') || want('w1-raw')) {
      for (const kind of KINDS) samples['w1-peak-rss'][kind].push(peak[kind] / MiB);
      log(
        `  W1 peak RSS: Breakwater ${fmt(peak.breakwater / MiB)} MiB, ` +
          `Distribution ${fmt(peak.distribution / MiB)} MiB`,
      );
    }
    if (want('w2')) {
      for (const kind of KINDS) {
        await withServer(kind, `r${round}-w2`, { scratch }, async (server) => {
          const rates = await w2Many(server, inputs.w2, scratch, {
            concurrency: options.concurrency,
          });
          samples['w2-push'][kind].push(rates.push);
          samples['w2-pull'][kind].push(rates.pull);
          w2PushCpu[kind].push(rates.pushCpu);
          log(
            `  W2 ${SERVER_LABEL[kind]}: push ${fmt(rates.push)} images/s, ` +
              `pull ${fmt(rates.pull)} images/s; CPU per image pushed: server ` +
              `${fmt(rates.pushCpu.server)} ms, skopeo ${fmt(rates.pushCpu.clients)} ms`,
          );
        });
      }
    }
    if (want('w3')) {
      for (const kind of KINDS) {
        await withServer(kind, `r${round}-w3`, { scratch }, async (server) => {
          const { rate, pushCpu } = await w3Dedupe(server, inputs.w3);
          samples['w3-push'][kind].push(rate);
          w3PushCpu[kind].push(pushCpu);
          log(
            `  W3 ${SERVER_LABEL[kind]}: push ${fmt(rate)} tags/s; CPU per tag: server ` +
              `${fmt(pushCpu.server)} ms, skopeo ${fmt(pushCpu.clients)} ms`,
          );
        });
      }
    }
    if (restrictedRules) {
      // Breakwater open and restricted, the same W2 each, the order swapped every round.
      const modes: NetworkMode[] =
        round % 2 === 1 ? ['open', 'restricted'] : ['restricted', 'open'];
      for (const mode of modes) {
        await withServer('breakwater', `r${round}-w2-${mode}`, { scratch }, async (server) => {
          const rules = mode === 'restricted' ? restrictedRules : OPEN_RULE_SET;
          const note = await applyNetworkRules(server, rules);
          if (note && !notes.includes(note)) notes.push(note);
          const rates = await w2Many(server, inputs.w2, scratch, {
            concurrency: options.concurrency,
          });
          restrictedRates[mode].push(rates);
          log(
            `  W2 Breakwater ${mode} (${rules.defaultAction}, ${rules.ipRules.length} IP rules): ` +
              `push ${fmt(rates.push)} images/s, pull ${fmt(rates.pull)} images/s`,
          );
        });
      }
    }
  }

  const limits = summariseLimits(limitRounds);
  let restrictedResult: RestrictedResult | undefined;
  if (restrictedRules) {
    restrictedResult = summariseRestricted(restrictedRates, restrictedRules.ipRules.length);
    notes.push(
      `Restricted: W2 on Breakwater with \`networkRuleSet\` {defaultAction Deny, ` +
        `${restrictedRules.ipRules.length} IP rules (IPv4 /8-/32 and IPv6 /16-/128, the last ` +
        `${ADMIT_LOOPBACK} admitting the clients)} set through the management API before the ` +
        'run, against W2 open (defaultAction Allow, no rules) with the same token auth; open and ' +
        'restricted alternate (open first in odd rounds). Each run checks the rules are enforced: ' +
        'GET /v2/ from 127.0.0.2 is 403 when restricted, 401 when open.',
    );
  }
  if (Number(machine.cpus) <= 2) {
    notes.push(
      'On a 2-core machine the clients (skopeo, the raw HTTP client) compete with the server for ' +
        'CPU; absolute rates are lower than on a server with its own cores, ratios less so.',
    );
  }
  notes.push(
    'Distribution runs with its stock in-memory blob descriptor cache, error-level logs and no ' +
      'access log; Breakwater with --log-level warn.',
  );
  if (breakwaterAuthenticated) {
    notes.push(
      'This Breakwater requires authentication: every skopeo process logs in with the bootstrap ' +
        "owner's credentials (a token exchange per process, inside the timings) and the raw " +
        'client gets a Bearer token before timing starts. Distribution runs without auth.',
    );
  }
  const finishedAt = new Date();
  const report: Report = {
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    machine,
    options: {
      scale: options.scale,
      rounds: options.rounds,
      concurrency: options.concurrency,
      workloads: [...options.only],
      sizes: inputs.sizes,
      sizesText: sizesText(inputs.sizes),
    },
    loadAverage: { start: loadStart, perRound: loadPerRound, end: loadavg() },
    ...(limits ? { limits } : {}),
    figures: summariseFigures(samples, limits?.median),
    ...(restrictedResult ? { restricted: restrictedResult } : {}),
    pushCommitShare,
    w2PushCpu,
    w3PushCpu,
    notes,
  };
  await writeResults(report);
}

/** `2026-11-28T16:44:49.273Z` -> `20261128-164449` */
function stampOf(iso: string): string {
  return iso.replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

async function writeResults(report: Report): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const stamp = stampOf(report.startedAt);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const svg = renderSvg(report);
  for (const base of [stamp, 'latest']) {
    await writeFile(join(RESULTS_DIR, `${base}.json`), json);
    await writeFile(join(RESULTS_DIR, `${base}.svg`), svg);
    await writeFile(join(RESULTS_DIR, `${base}.md`), renderMarkdown(report, `${base}.svg`));
  }
  process.stdout.write(renderMarkdown(report, `${stamp}.svg`));
  log(`wrote bench/results/${stamp}.{json,md,svg} and bench/results/latest.{json,md,svg}`);
}

async function profile(options: Options, inputs: Inputs, scratch: string): Promise<void> {
  const profileDir = join(scratch, 'profiles');
  await mkdir(profileDir, { recursive: true });
  const sections: string[] = [];
  const record = async (name: string, title: string, rate: string) => {
    const file = join(profileDir, `${name}.cpuprofile`);
    sections.push(
      profileMarkdown(`${title} (${rate} under the profiler)`, summariseProfile(file, REPO_ROOT)),
    );
  };

  const rawData = join(scratch, 'profile-w1-raw');
  let rate = await withServer(
    'breakwater',
    'profile-w1-raw-push',
    {
      scratch,
      dataDir: rawData,
      keepData: true,
      cpuProfile: { dir: profileDir, name: 'w1-raw-push' },
    },
    (server) => w1RawPush(server, inputs.w1),
  );
  log(`  W1 raw push under the profiler: ${fmt(rate)} MiB/s`);
  await record('w1-raw-push', 'W1 raw HTTP push', `${fmt(rate)} MiB/s`);

  rate = await withServer(
    'breakwater',
    'profile-w1-raw-pull',
    { scratch, dataDir: rawData, cpuProfile: { dir: profileDir, name: 'w1-raw-pull' } },
    (server) => w1RawPull(server),
  );
  log(`  W1 raw pull under the profiler: ${fmt(rate)} MiB/s`);
  await record('w1-raw-pull', 'W1 raw HTTP pull', `${fmt(rate)} MiB/s`);

  rate = await withServer(
    'breakwater',
    'profile-w2-push',
    { scratch, cpuProfile: { dir: profileDir, name: 'w2-push' } },
    async (server) =>
      (
        await w2Many(server, inputs.w2, scratch, {
          concurrency: options.concurrency,
          pushOnly: true,
        })
      ).push,
  );
  log(`  W2 push under the profiler: ${fmt(rate)} images/s`);
  await record('w2-push', 'W2 skopeo push', `${fmt(rate)} images/s`);

  const markdown = [
    `# Breakwater CPU profile: ${new Date().toISOString()}`,
    '',
    `Breakwater ${String(machineInfo().breakwaterCommit)} under \`node --cpu-prof\`, ${sizesText(inputs.sizes)}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')}.`,
    '',
    ...sections,
  ].join('\n');
  await mkdir(RESULTS_DIR, { recursive: true });
  const stamp = stampOf(new Date(started).toISOString());
  await writeFile(join(RESULTS_DIR, `profile-${stamp}.md`), markdown);
  await writeFile(join(RESULTS_DIR, 'profile-latest.md'), markdown);
  process.stdout.write(markdown);
  log(`wrote bench/results/profile-${stamp}.md and profile-latest.md; profiles in ${profileDir}`);
}

async function main(): Promise<void> {
  const options = parseOptions();
  ensureTools();
  const root = process.env.BENCH_DIR ?? tmpdir();
  const scratch = await mkdtemp(join(root, 'breakwater-bench-run-'));
  try {
    const inputs = await ensureInputs(
      join(root, 'breakwater-bench-cache'),
      sizesFor(options.scale),
      log,
    );
    log(`scratch ${scratch}; ${sizesText(inputs.sizes)}`);
    if (options.profile) await profile({ ...options, keep: true }, inputs, scratch);
    else await benchmark(options, inputs, scratch);
  } finally {
    if (!options.keep && !options.profile) await rm(scratch, { recursive: true, force: true });
    else log(`kept ${scratch}`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`);
  void Promise.all([...live].map((s) => s.stop(2000))).finally(() => process.exit(1));
});
