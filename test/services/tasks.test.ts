/**
 * Registry tasks, end to end, as the product brief's worked example: a task with a system-
 * assigned identity and `--auth-mode None` builds a Dockerfile (FROM, COPY, RUN in bubblewrap)
 * and pushes into a registry whose public access is disabled. It succeeds while trusted
 * services are allowed, fails with the registry's 403 DENIED in its log once they are not, and
 * succeeds again when they are. Then a task in registry A builds FROM an image in network-
 * restricted registry B with its identity; and the image the RUN step made is pulled by skopeo
 * and podman, whose unpacked filesystem holds what the RUN wrote.
 *
 * Everything goes through the compiled CLI against a live server; the runner reaches the
 * registries over HTTP from its own source address (127.0.0.7 here), like any client.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeConfigDir, type CliResult } from '../cli/cli.js';
import { ClientSandbox, commandAvailable, describeRun, expectSuccess } from '../support/clients.js';
import { BUSYBOX_PATH, buildImageLayout, busyboxLayer } from '../support/oci-layout.js';
import {
  removeDataDir,
  requireClient,
  startServer,
  type RunningServer,
} from '../support/server.js';
import { sandboxAvailable } from '../../src/runtime/index.js';

const enabled =
  requireClient('bubblewrap', await sandboxAvailable()) &&
  requireClient('skopeo', await commandAvailable('skopeo')) &&
  requireClient('podman', await commandAvailable('podman')) &&
  requireClient('busybox-static', existsSync(BUSYBOX_PATH));

const SLOW = { timeout: 120_000 };
let server: RunningServer;
let configDir: string;
let work: string;
let clients: ClientSandbox;
let registryA: string;
let loginServerA: string;

function bw(...args: string[]): CliResult {
  return cli(args, { BREAKWATER_CONFIG_DIR: configDir, BREAKWATER_DATA: server.dataDir });
}

/** `acr task VERB... -n NAME -r myregistry ARGS...` */
function taskCli(verbs: string[], name: string, ...args: string[]): CliResult {
  return bw('acr', 'task', ...verbs, '-n', name, '-r', 'myregistry', ...args);
}

function ok(result: CliResult): CliResult {
  if (result.status !== 0) {
    throw new Error(`CLI failed (${result.status}):\n${result.stderr}\n${result.stdout}`);
  }
  return result;
}

/** Public access on for everyone (az also needs the default action back to Allow). */
function openRegistry(name: string): void {
  ok(
    bw(
      'acr',
      'update',
      '-n',
      name,
      '--public-network-enabled',
      'true',
      '--default-action',
      'Allow',
    ),
  );
}

function closeRegistry(name: string): void {
  ok(bw('acr', 'update', '-n', name, '--public-network-enabled', 'false'));
}

function grant(principalId: string, role: string, scope: string): void {
  ok(
    bw('role', 'assignment', 'create', '--assignee', principalId, '--role', role, '--scope', scope),
  );
}

/** The brief's third piece: the task logs in to `loginServer` with its system identity. */
function useSystemIdentityFor(task: string, loginServer: string): void {
  ok(
    taskCli(
      ['credential', 'add'],
      task,
      '--login-server',
      loginServer,
      '--use-identity',
      '[system]',
    ),
  );
}

function runStatus(runId: string): string {
  return ok(bw('acr', 'task', 'show-run', '-r', 'myregistry', '--run-id', runId)).json<{
    status: string;
  }>().status;
}

/** Pushes a busybox image (built as an OCI layout) with skopeo as the owner. */
async function seedBase(host: string, repository: string): Promise<void> {
  const layout = await mkdtemp(join(work, 'base-'));
  await buildImageLayout(layout, { layers: [await busyboxLayer()] }, 'v1');
  expectSuccess(
    await clients.skopeo([
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      `${server.owner.clientId}:${server.owner.clientSecret}`,
      `oci:${layout}:v1`,
      `docker://${host}/${repository}`,
    ]),
  );
}

async function writeContext(name: string, dockerfile: string): Promise<string> {
  const context = join(work, name);
  await mkdir(context, { recursive: true });
  await writeFile(join(context, 'Dockerfile'), dockerfile);
  await writeFile(join(context, 'greeting.txt'), 'hello from the build context\n');
  return context;
}

beforeAll(async () => {
  if (!enabled) return;
  server = await startServer({ extraArgs: ['--service-source-address', '127.0.0.7'] });
  configDir = makeConfigDir();
  work = await mkdtemp(join(tmpdir(), 'bw-tasks-'));
  clients = await ClientSandbox.create('bw-tasks-clients-');
  ok(bw('login'));
  registryA = ok(bw('acr', 'show', '-n', 'myregistry', '--query', 'id', '-o', 'tsv')).stdout.trim();
  loginServerA = ok(
    bw('acr', 'show', '-n', 'myregistry', '--query', 'loginServer', '-o', 'tsv'),
  ).stdout.trim();
  // The default registry also answers on the listener's address (its host alias).
  await seedBase(server.host, 'base/busybox:v1');
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
  await clients?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

describe.skipIf(!enabled)('registry tasks (the brief’s worked example)', () => {
  it(
    'a task with a system identity pushes into a registry with public access disabled only while trusted services are allowed',
    SLOW,
    async () => {
      const context = await writeContext(
        'hello',
        [
          `FROM ${loginServerA}/base/busybox:v1`,
          'ARG GREETING=built',
          'ENV WHO=task',
          'WORKDIR /app',
          'COPY --chown=1000:1000 greeting.txt ./',
          'RUN echo "$GREETING by $WHO" > /app/built.txt && /bin/busybox ls /app > /app/listing.txt',
          'CMD ["/bin/busybox", "cat", "/app/built.txt"]',
          '',
        ].join('\n'),
      );
      const task = ok(
        taskCli(
          ['create'],
          'hello-task',
          '-c',
          context,
          '-f',
          'Dockerfile',
          '-t',
          'hello:{{.Run.ID}}',
          '-t',
          'hello:latest',
          '--assign-identity',
          '[system]',
          '--auth-mode',
          'None',
        ),
      ).json<{ identity: { principalId: string; type: string }; step: { contextPath: string } }>();
      expect(task.identity.type).toBe('SystemAssigned');
      expect(task.step.contextPath).toMatch(/^source\/.+\.tar\.gz$/);

      grant(task.identity.principalId, 'AcrPush', registryA);
      useSystemIdentityFor('hello-task', loginServerA);
      closeRegistry('myregistry');

      const first = taskCli(['run'], 'hello-task');
      expect(first.status, `${first.stderr}\n${first.stdout}`).toBe(0);
      expect(first.stdout).toContain(`Successfully logged into ${loginServerA}`);
      expect(first.stdout).toMatch(/Run ID: ca1 was successful/);
      const run1 = ok(bw('acr', 'task', 'show-run', '-r', 'myregistry', '--run-id', 'ca1')).json<{
        status: string;
        outputImages: Array<{ repository: string; tag: string; digest: string }>;
      }>();
      expect(run1.status).toBe('Succeeded');
      expect(run1.outputImages.map((i) => `${i.repository}:${i.tag}`)).toEqual([
        'hello:ca1',
        'hello:latest',
      ]);

      // Trusted services off: the next run is refused by the network stage, in its log.
      ok(bw('acr', 'update', '-n', 'myregistry', '--allow-trusted-services', 'false'));
      const refused = taskCli(['run'], 'hello-task');
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('ERROR: Run failed');
      expect(refused.stdout).toContain('403 DENIED');
      expect(refused.stdout).toMatch(/Run ID: ca2 failed/);
      const run2 = ok(bw('acr', 'task', 'show-run', '-r', 'myregistry', '--run-id', 'ca2')).json<{
        status: string;
        runErrorMessage: string;
      }>();
      expect(run2.status).toBe('Failed');
      expect(run2.runErrorMessage).toContain('DENIED');

      // Back on: succeeds again, and the logs are kept for every run.
      ok(bw('acr', 'update', '-n', 'myregistry', '--allow-trusted-services', 'true'));
      const third = taskCli(['run'], 'hello-task');
      expect(third.status, `${third.stderr}\n${third.stdout}`).toBe(0);
      const runs = ok(bw('acr', 'task', 'list-runs', '-r', 'myregistry', '-n', 'hello-task')).json<
        Array<{ runId: string; status: string }>
      >();
      expect(runs.map((r) => [r.runId, r.status])).toEqual([
        ['ca3', 'Succeeded'],
        ['ca2', 'Failed'],
        ['ca1', 'Succeeded'],
      ]);
      const log2 = ok(bw('acr', 'task', 'logs', '-r', 'myregistry', '--run-id', 'ca2')).stdout;
      expect(log2).toContain('403 DENIED');
    },
  );

  it('without the role the run fails with the registry’s error', SLOW, async () => {
    const context = await writeContext('norole', `FROM ${loginServerA}/base/busybox:v1\n`);
    const task = ok(
      taskCli(
        ['create'],
        'norole-task',
        '-c',
        context,
        '-t',
        'norole:v1',
        '--assign-identity',
        '--auth-mode',
        'None',
      ),
    ).json<{ identity: { principalId: string } }>();
    expect(task.identity.principalId).toBeTruthy();
    useSystemIdentityFor('norole-task', loginServerA);
    const result = taskCli(['run'], 'norole-task');
    expect(result.status).not.toBe(0);
    expect(result.stdout).toMatch(/(401 UNAUTHORIZED|403 DENIED)/);
  });

  it(
    'a task in registry A builds FROM network-restricted registry B with its identity',
    SLOW,
    async () => {
      ok(bw('acr', 'create', '-n', 'registryb', '-g', 'breakwater', '--sku', 'Premium'));
      const registryB = ok(
        bw('acr', 'show', '-n', 'registryb', '--query', 'id', '-o', 'tsv'),
      ).stdout.trim();
      const loginServerB = ok(
        bw('acr', 'show', '-n', 'registryb', '--query', 'loginServer', '-o', 'tsv'),
      ).stdout.trim();
      // Seed B through an IP rule for this test's own address, then close B to everyone.
      openRegistry('registryb');
      await seedBaseVia(loginServerB, 'base/busybox:v1');
      closeRegistry('registryb');
      // A is open again for this test; B stays closed.
      openRegistry('myregistry');

      const context = await writeContext(
        'cross',
        [`FROM ${loginServerB}/base/busybox:v1`, 'RUN echo cross-registry > /cross.txt', ''].join(
          '\n',
        ),
      );
      const task = ok(
        taskCli(
          ['create'],
          'cross-task',
          '-c',
          context,
          '-t',
          'cross:v1',
          '--assign-identity',
          '[system]',
        ),
      ).json<{ identity: { principalId: string } }>();
      for (const [role, scope] of [
        ['AcrPull', registryB],
        ['AcrPush', registryA],
      ] as const) {
        grant(task.identity.principalId, role, scope);
      }
      useSystemIdentityFor('cross-task', loginServerB);
      const result = taskCli(['run'], 'cross-task');
      expect(result.status, `${result.stderr}\n${result.stdout}`).toBe(0);
      expect(result.stdout).toContain(`Successfully logged into ${loginServerB}`);
      // The default auth mode pushed to A with the run's implicit token.
      expect(result.stdout).toContain(`Successfully logged into ${loginServerA}`);
    },
  );

  it(
    'the image a RUN step made is pulled by skopeo and podman with what RUN wrote',
    SLOW,
    async () => {
      openRegistry('myregistry');
      const name = `${server.host}/hello:ca1`;
      await clients.login(server.host, server.owner.clientId, server.owner.clientSecret);
      const layout = join(work, 'pulled');
      expectSuccess(
        await clients.skopeo([
          'copy',
          '--src-tls-verify=false',
          `docker://${name}`,
          `oci:${layout}:x`,
        ]),
      );
      const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
        manifests: Array<{ digest: string }>;
      };
      const blob = (digest: string) => join(layout, 'blobs', 'sha256', digest.slice(7));
      const manifest = JSON.parse(await readFile(blob(index.manifests[0]!.digest), 'utf8')) as {
        config: { digest: string };
        layers: Array<{ digest: string }>;
      };
      const config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8')) as {
        config: { Cmd: string[]; Env: string[]; WorkingDir: string };
        history: Array<{ created_by: string; empty_layer?: boolean }>;
        rootfs: { diff_ids: string[] };
      };
      expect(config.config.Cmd).toEqual(['/bin/busybox', 'cat', '/app/built.txt']);
      expect(config.config.Env).toContain('WHO=task');
      expect(config.config.WorkingDir).toBe('/app');
      expect(config.history.some((h) => h.created_by.startsWith('RUN '))).toBe(true);
      expect(config.rootfs.diff_ids).toHaveLength(manifest.layers.length);

      const pulled = await clients.podman(['pull', '--tls-verify=false', name]);
      expect(pulled.code, describeRun(pulled)).toBe(0);
      const inspect = JSON.parse(
        expectSuccess(await clients.podman(['image', 'inspect', name])).stdout,
      ) as Array<{ RootFS: { Layers: string[] } }>;
      // podman verified each layer against the config's diff_ids while unpacking.
      expect(inspect[0]!.RootFS.Layers).toEqual(config.rootfs.diff_ids);
      const mount = expectSuccess(await clients.podman(['image', 'mount', name])).stdout.trim();
      expect(await readFile(join(mount, 'app/built.txt'), 'utf8')).toBe('built by task\n');
      expect(await readFile(join(mount, 'app/greeting.txt'), 'utf8')).toBe(
        'hello from the build context\n',
      );
      expect((await stat(join(mount, 'app/greeting.txt'))).uid).toBe(1000);
      // The shell made listing.txt before ls ran, after the RUN's first command wrote built.txt.
      expect(await readFile(join(mount, 'app/listing.txt'), 'utf8')).toBe(
        'built.txt\ngreeting.txt\nlisting.txt\n',
      );
      await clients.podman(['image', 'unmount', name]);
    },
  );
});

describe.skipIf(!enabled)('quick builds, quick runs and cancel', () => {
  it(
    'acr build and acr run (task file and --cmd) stream their logs; a quick build is no trusted service',
    SLOW,
    async () => {
      openRegistry('myregistry');
      const context = await writeContext(
        'quick',
        [
          `FROM ${loginServerA}/base/busybox:v1`,
          'COPY greeting.txt /greeting.txt',
          'CMD ["/bin/busybox", "cat", "/greeting.txt"]',
          '',
        ].join('\n'),
      );
      await writeFile(
        join(context, 'acb.yaml'),
        [
          'version: v1.1.0',
          'steps:',
          '  - build: -t $Registry/multi:{{.Run.ID}} .',
          '  - push: ["$Registry/multi:{{.Run.ID}}"]',
          '  - cmd: $Registry/multi:{{.Run.ID}}',
          '  - cmd: $Registry/multi:{{.Run.ID}} /bin/busybox echo value={{.Values.who}}',
          '',
        ].join('\n'),
      );
      const build = bw('acr', 'build', '-r', 'myregistry', '-t', 'quick:{{.Run.ID}}', context);
      expect(build.status, `${build.stderr}\n${build.stdout}`).toBe(0);
      expect(build.stdout).toMatch(/Step 2\/3 : COPY greeting.txt \/greeting.txt/);
      const quickId = /Run ID: (ca\d+) was successful/.exec(build.stdout)?.[1];
      expect(
        ok(
          bw('acr', 'repository', 'show-tags', '-n', 'myregistry', '--repository', 'quick'),
        ).json(),
      ).toEqual([quickId]);

      const multi = bw(
        'acr',
        'run',
        '-r',
        'myregistry',
        '-f',
        'acb.yaml',
        '--set',
        'who=tasks',
        context,
      );
      expect(multi.status, `${multi.stderr}\n${multi.stdout}`).toBe(0);
      expect(multi.stdout).toContain('hello from the build context');
      expect(multi.stdout).toContain('value=tasks');

      const command = bw(
        'acr',
        'run',
        '-r',
        'myregistry',
        '--cmd',
        `${loginServerA}/hello:latest`,
        '/dev/null',
      );
      expect(command.status, `${command.stderr}\n${command.stdout}`).toBe(0);
      expect(command.stdout).toContain('built by task');

      // A failing command fails the run, with the exit status in the log.
      const failing = bw(
        'acr',
        'run',
        '-r',
        'myregistry',
        '--cmd',
        `${loginServerA}/hello:latest /bin/busybox false`,
        '/dev/null',
      );
      expect(failing.status).not.toBe(0);
      expect(failing.stdout).toContain('exit status 1');

      // The run's implicit token is not a trusted-service credential: closed registry, refused.
      closeRegistry('myregistry');
      const closed = bw('acr', 'build', '-r', 'myregistry', '-t', 'quick:closed', context);
      expect(closed.status).not.toBe(0);
      expect(closed.stdout).toContain('403 DENIED');
      openRegistry('myregistry');
    },
  );

  it('a running run can be canceled', SLOW, async () => {
    const queued = ok(
      bw(
        'acr',
        'run',
        '-r',
        'myregistry',
        '--cmd',
        `${loginServerA}/hello:latest /bin/busybox sleep 60`,
        '--no-logs',
        '/dev/null',
      ),
    ).json<{ runId: string }>();
    for (let i = 0; i < 100; i++) {
      const status = runStatus(queued.runId);
      if (status === 'Running') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    ok(bw('acr', 'task', 'cancel-run', '-r', 'myregistry', '--run-id', queued.runId));
    let status = '';
    for (let i = 0; i < 100 && status !== 'Canceled'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = runStatus(queued.runId);
    }
    expect(status).toBe('Canceled');
  });

  it('manages a task’s identities and credentials as az does', () => {
    const context = '/dev/null';
    ok(taskCli(['create'], 'identity-task', '-c', context, '-t', 'x:v1'));
    expect(ok(taskCli(['identity', 'show'], 'identity-task')).stdout.trim()).toBe('null');
    const uami = ok(
      bw('identity', 'create', '--name', 'task-builder', '--resource-group', 'breakwater'),
    ).json<{
      id: string;
      clientId: string;
    }>();
    const assigned = ok(
      taskCli(['identity', 'assign'], 'identity-task', '--identities', '[system]', uami.id),
    ).json<{
      type: string;
      principalId: string;
      userAssignedIdentities: Record<string, { clientId: string }>;
    }>();
    expect(assigned.type).toBe('SystemAssigned, UserAssigned');
    expect(Object.values(assigned.userAssignedIdentities)[0]!.clientId).toBe(uami.clientId);
    // A user-assigned identity is named by its client id in a credential.
    ok(
      taskCli(
        ['credential', 'add'],
        'identity-task',
        '--login-server',
        'other.azurecr.localhost',
        '--use-identity',
        uami.clientId,
      ),
    );
    ok(
      taskCli(
        ['credential', 'add'],
        'identity-task',
        '--login-server',
        'third.azurecr.localhost',
        '-u',
        'robot',
        '-p',
        's3cret',
      ),
    );
    const listed = ok(taskCli(['credential', 'list'], 'identity-task')).json<
      Record<string, Record<string, unknown>>
    >();
    expect(listed).toEqual({
      'other.azurecr.localhost': { identity: uami.clientId },
      // Secrets are never shown back.
      'third.azurecr.localhost': { userName: { type: 'Opaque' }, password: { type: 'Opaque' } },
    });
    const again = taskCli(
      ['credential', 'add'],
      'identity-task',
      '--login-server',
      'third.azurecr.localhost',
      '-u',
      'a',
      '-p',
      'b',
    );
    expect(again.stderr).toBe(
      "ERROR: Login server 'third.azurecr.localhost' already exists. You cannot add it again.\n",
    );
    ok(
      taskCli(
        ['credential', 'remove'],
        'identity-task',
        '--login-server',
        'third.azurecr.localhost',
      ),
    );
    expect(
      Object.keys(ok(taskCli(['credential', 'list'], 'identity-task')).json<object>()),
    ).toEqual(['other.azurecr.localhost']);
    // Removing the identity a credential uses is refused while the credential names it.
    const removed = taskCli(['identity', 'remove'], 'identity-task', '--identities', uami.id);
    expect(removed.stderr).toMatch(
      /^ERROR: The identity '.*' of custom registry 'other.azurecr.localhost' is not assigned to the task/,
    );
    const system = ok(
      taskCli(['identity', 'remove'], 'identity-task', '--identities', '[system]'),
    ).json<{ type: string }>();
    expect(system.type).toBe('UserAssigned');
  });

  it('refuses bad task definitions with ARM errors', () => {
    const git = taskCli(['create'], 'gittask', '-c', 'https://github.com/x/y.git', '-t', 'x:v1');
    expect(git.status).not.toBe(0);
    expect(git.stderr).toMatch(/^ERROR: .*cannot be fetched/);
    const badName = taskCli(['create'], 'x', '-c', '/dev/null', '-t', 'x:v1');
    expect(badName.stderr).toMatch(/^ERROR: The task name 'x' is invalid/);
    const noIdentity = taskCli(['create'], 'noident', '-c', '/dev/null', '-t', 'x:v1');
    expect(noIdentity.status).toBe(0);
    const credential = taskCli(
      ['credential', 'add'],
      'noident',
      '--login-server',
      'other.azurecr.localhost',
      '--use-identity',
      '[system]',
    );
    expect(credential.stderr).toMatch(
      /^ERROR: The identity '\[system\]' of custom registry 'other.azurecr.localhost' is not assigned to the task/,
    );
  });
});

/** Seeds a registry addressed by its login server through the data endpoint (Host header). */
async function seedBaseVia(loginServer: string, repository: string): Promise<void> {
  const layout = await mkdtemp(join(work, 'base-'));
  await buildImageLayout(layout, { layers: [await busyboxLayer()] }, 'v1');
  // skopeo cannot resolve *.azurecr.localhost here; push with plain HTTP and the Host header.
  const { pushLayoutOverHttp } = await import('../support/push-layout.js');
  await pushLayoutOverHttp(server, loginServer, layout, 'v1', repository);
}
