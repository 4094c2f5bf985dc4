/**
 * @module cli/commands/acr-task
 * `acr task create|show|list|update|delete|run|list-runs|show-run|logs|cancel-run`,
 * `acr task credential add|update|remove|list`, `acr task identity assign|show|remove`,
 * `acr build` and `acr run`, with az's arguments. A local context directory is packed (tar.gz)
 * and uploaded through `listBuildSourceUploadUrl`; runs stream their log until they end, and
 * the command fails (`ERROR: Run failed`) when the run does.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { createGzip } from 'node:zlib';
import { Option, type Command } from 'commander';
import { pack, type Pack } from 'tar-stream';
import { CliError } from '../errors.js';
import { print, type GlobalOptions } from '../output.js';
import {
  registryId,
  registryName,
  resourceGroupOf,
  session,
  withGlobals,
  type ArmResource,
  type Session,
} from './common.js';

/** ACR's tasks API version (what az uses for tasks and runs). */
export const TASKS_API_VERSION = '2019-06-01-preview';
const NO_TTY = 'Unable to prompt for confirmation as no tty available. Use --yes.';

interface TaskOptions extends GlobalOptions {
  name?: string;
  registry?: string;
  resourceGroup?: string;
  context?: string;
  file?: string;
  image?: string[];
  arg?: string[];
  set?: string[];
  assignIdentity?: string[] | boolean;
  authMode?: string;
  platform?: string;
  timeout?: string;
  status?: string;
  target?: string;
  push?: boolean;
  cmd?: string;
  loginServer?: string;
  useIdentity?: string;
  username?: string;
  password?: string;
  identities?: string[];
  runId?: string;
  top?: string;
  runStatus?: string;
  logs?: boolean;
  yes?: boolean;
  buildArg?: string[];
}

/** az's view of a task or run: properties merged to the top, `resourceGroup` added. */
function flattenChild(resource: ArmResource): Record<string, unknown> {
  const { properties, ...rest } = resource;
  return {
    ...rest,
    ...(properties ?? {}),
    resourceGroup: resourceGroupOf(resource.id) ?? null,
    systemData: resource.systemData ?? null,
  };
}

async function registryPath(options: TaskOptions): Promise<{ base: string; s: Session }> {
  const s = session();
  return { base: await registryId(s, registryName(options.registry), options.resourceGroup), s };
}

function requireOption<T>(value: T | undefined, flag: string): T {
  if (value === undefined || value === '')
    throw new CliError(`the following arguments are required: ${flag}`);
  return value;
}

/** `NAME=VALUE` pairs of --arg/--set/--build-arg. */
function nameValues(
  pairs: string[] | undefined,
  flag: string,
): Array<{ name: string; value: string; isSecret: boolean }> {
  return (pairs ?? []).map((pair) => {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new CliError(`argument ${flag}: '${pair}' is not NAME=VALUE`);
    return { name: pair.slice(0, equals), value: pair.slice(equals + 1), isSecret: false };
  });
}

/** The ARM identity for `--assign-identity [system] [ID...]` (bare flag: system-assigned). */
function identityOf(values: string[] | boolean | undefined): Record<string, unknown> | undefined {
  if (values === undefined || values === false) return undefined;
  const list = values === true ? ['[system]'] : values.length === 0 ? ['[system]'] : values;
  const system = list.some((v) => v === '[system]');
  const user = list.filter((v) => v !== '[system]');
  const type =
    system && user.length
      ? 'SystemAssigned, UserAssigned'
      : system
        ? 'SystemAssigned'
        : 'UserAssigned';
  return {
    type,
    ...(user.length
      ? { userAssignedIdentities: Object.fromEntries(user.map((id) => [id, {}])) }
      : {}),
  };
}

/** Packs a directory (or reads a .tar.gz) and uploads it; returns the relativePath for runs. */
async function uploadContext(
  s: Session,
  base: string,
  context: string,
): Promise<string | undefined> {
  if (context === '/dev/null') return undefined;
  if (/^(https?|git):\/\//.test(context)) {
    throw new CliError(
      `The context '${context}' cannot be fetched: this platform builds uploaded local contexts only.`,
    );
  }
  const stat = await lstat(context).catch(() => undefined);
  if (!stat) throw new CliError(`The context '${context}' does not exist.`);
  const upload = await s.client.arm<{ uploadUrl: string; relativePath: string }>(
    'POST',
    `${base}/listBuildSourceUploadUrl`,
    TASKS_API_VERSION,
  );
  process.stderr.write(`Packing source code into tar to upload...\n`);
  if (stat.isFile()) {
    await s.client.upload(upload.uploadUrl, createReadStream(context));
  } else {
    const tarball = pack();
    const packing = packDirectory(tarball, context).then(
      () => tarball.finalize(),
      (error: unknown) => tarball.destroy(error as Error),
    );
    await Promise.all([s.client.upload(upload.uploadUrl, tarball.pipe(createGzip())), packing]);
  }
  process.stderr.write(`Sending context to registry: ${base.split('/').at(-1)}...\n`);
  return upload.relativePath;
}

/** A `.dockerignore` line as a regular expression over context-relative paths. */
function dockerignorePattern(line: string): RegExp {
  const body = line
    .replace(/^\/+|\/+$/g, '')
    .split('**')
    .map((part) =>
      part
        .replace(/[.+^${}()|\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]'),
    )
    .join('.*');
  return new RegExp(`^${body}(/.*)?$`);
}

/** Adds a directory's files to a tar, honouring `.dockerignore` lines that name paths or globs. */
async function packDirectory(tarball: Pack, root: string): Promise<void> {
  const ignore = (await readFile(join(root, '.dockerignore'), 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map(dockerignorePattern);
  const add = (header: Parameters<Pack['entry']>[0], body?: Buffer) =>
    new Promise<void>((resolve, reject) =>
      tarball.entry(header, body ?? Buffer.alloc(0), (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  const walk = async (directory: string) => {
    for (const name of (await readdir(directory)).sort()) {
      const path = join(directory, name);
      const rel = relative(root, path).split(sep).join('/');
      if (ignore.some((pattern) => pattern.test(rel))) continue;
      const stat = await lstat(path);
      const common = { name: rel, mode: stat.mode & 0o7777, mtime: stat.mtime };
      if (stat.isDirectory()) {
        await add({ ...common, name: `${rel}/`, type: 'directory' });
        await walk(path);
      } else if (stat.isSymbolicLink()) {
        await add({ ...common, type: 'symlink', linkname: await readlink(path) });
      } else if (stat.isFile()) {
        await add({ ...common, type: 'file', size: stat.size }, await readFile(path));
      }
    }
  };
  await walk(root);
}

function stepFor(options: TaskOptions, contextPath: string | undefined): Record<string, unknown> {
  const file = options.file ?? 'Dockerfile';
  const context = contextPath ? { contextPath } : {};
  if (options.cmd) {
    const yaml = `version: v1.1.0\nsteps:\n  - cmd: ${JSON.stringify(options.cmd)}\n`;
    return {
      type: 'EncodedTask',
      encodedTaskContent: Buffer.from(yaml).toString('base64'),
      values: nameValues(options.set, '--set'),
      ...context,
    };
  }
  if (/\.ya?ml$/i.test(file)) {
    return {
      type: 'FileTask',
      taskFilePath: file,
      values: nameValues(options.set, '--set'),
      ...context,
    };
  }
  return {
    type: 'Docker',
    dockerFilePath: file,
    imageNames: options.image ?? [],
    isPushEnabled: options.push !== false,
    noCache: false,
    arguments: nameValues(options.arg, '--arg'),
    ...(options.target ? { target: options.target } : {}),
    ...context,
  };
}

async function taskCreate(options: TaskOptions): Promise<void> {
  const name = requireOption(options.name, '--name/-n');
  const context = requireOption(options.context, '--context/-c');
  const { base, s } = await registryPath(options);
  const contextPath = await uploadContext(s, base, context);
  const identity = identityOf(options.assignIdentity);
  const task = await s.client.arm<ArmResource>('PUT', `${base}/tasks/${name}`, TASKS_API_VERSION, {
    ...(identity ? { identity } : {}),
    properties: {
      status: options.status ?? 'Enabled',
      platform: {
        os: options.platform?.split('/')[0] ?? 'linux',
        architecture: options.platform?.split('/')[1] ?? 'amd64',
      },
      timeout: Number(options.timeout ?? 3600),
      step: stepFor(options, contextPath),
      credentials: { sourceRegistry: { loginMode: options.authMode ?? 'Default' } },
    },
  });
  print(flattenChild(task), options);
}

async function taskUpdate(options: TaskOptions): Promise<void> {
  const name = requireOption(options.name, '--name/-n');
  const { base, s } = await registryPath(options);
  const path = `${base}/tasks/${name}`;
  const current = await s.client.arm<ArmResource>('GET', path, TASKS_API_VERSION);
  const step = { ...(current.properties?.step as Record<string, unknown>) };
  if (options.context) {
    const contextPath = await uploadContext(s, base, options.context);
    if (contextPath) step.contextPath = contextPath;
    else delete step.contextPath;
  }
  if (options.file) {
    if (step.type === 'Docker') step.dockerFilePath = options.file;
    else step.taskFilePath = options.file;
  }
  if (options.image) step.imageNames = options.image;
  if (options.arg) step.arguments = nameValues(options.arg, '--arg');
  if (options.set) step.values = nameValues(options.set, '--set');
  if (options.target) step.target = options.target;
  const properties: Record<string, unknown> = { step };
  if (options.status) properties.status = options.status;
  if (options.timeout) properties.timeout = Number(options.timeout);
  if (options.authMode)
    properties.credentials = { sourceRegistry: { loginMode: options.authMode } };
  const updated = await s.client.arm<ArmResource>('PATCH', path, TASKS_API_VERSION, { properties });
  print(flattenChild(updated), options);
}

async function credentialChange(
  options: TaskOptions,
  action: 'add' | 'update' | 'remove',
): Promise<void> {
  const name = requireOption(options.name, '--name/-n');
  const server = requireOption(options.loginServer, '--login-server').toLowerCase();
  const { base, s } = await registryPath(options);
  const path = `${base}/tasks/${name}`;
  const task = await s.client.arm<ArmResource>('GET', path, TASKS_API_VERSION);
  const existing =
    (task.properties?.credentials as { customRegistries?: Record<string, unknown> } | undefined)
      ?.customRegistries ?? {};
  if (action === 'add' && server in existing)
    throw new CliError(`Login server '${server}' already exists. You cannot add it again.`);
  if (action !== 'add' && !(server in existing))
    throw new CliError(`Login server '${server}' not found.`);
  let entry: Record<string, unknown> | null = null;
  if (action !== 'remove') {
    if (options.useIdentity) entry = { identity: options.useIdentity };
    else if (options.username && options.password)
      entry = {
        userName: { type: 'Opaque', value: options.username },
        password: { type: 'Opaque', value: options.password },
      };
    else
      throw new CliError(
        'usage error: --use-identity IDENTITY | --username USERNAME --password PASSWORD',
      );
  }
  const updated = await s.client.arm<ArmResource>('PATCH', path, TASKS_API_VERSION, {
    properties: { credentials: { customRegistries: { [server]: entry } } },
  });
  print(
    (updated.properties?.credentials as { customRegistries?: unknown } | undefined)
      ?.customRegistries ?? {},
    options,
  );
}

async function identityChange(
  options: TaskOptions,
  action: 'assign' | 'remove' | 'show',
): Promise<void> {
  const name = requireOption(options.name, '--name/-n');
  const { base, s } = await registryPath(options);
  const path = `${base}/tasks/${name}`;
  const task = await s.client.arm<ArmResource>('GET', path, TASKS_API_VERSION);
  const current = (task.identity as Record<string, unknown> | null | undefined) ?? null;
  if (action === 'show') return print(current, options);
  const requested = options.identities?.length ? options.identities : ['[system]'];
  const hasSystem = String(current?.type ?? '').includes('SystemAssigned');
  const users = new Set(
    Object.keys((current?.userAssignedIdentities as Record<string, unknown>) ?? {}),
  );
  let system = hasSystem;
  for (const id of requested) {
    if (id === '[system]') system = action === 'assign';
    else if (action === 'assign') users.add(id);
    else users.delete(id);
  }
  const type =
    system && users.size
      ? 'SystemAssigned, UserAssigned'
      : system
        ? 'SystemAssigned'
        : users.size
          ? 'UserAssigned'
          : 'None';
  const identity = {
    type,
    ...(users.size
      ? { userAssignedIdentities: Object.fromEntries([...users].map((id) => [id, {}])) }
      : {}),
  };
  const updated = await s.client.arm<ArmResource>('PATCH', path, TASKS_API_VERSION, { identity });
  print(updated.identity ?? null, options);
}

/** Schedules a run and (unless --no-logs) streams its log; fails when the run fails. */
async function scheduleAndFollow(
  s: Session,
  base: string,
  body: Record<string, unknown>,
  options: TaskOptions,
): Promise<void> {
  const run = await s.client.arm<ArmResource>(
    'POST',
    `${base}/scheduleRun`,
    TASKS_API_VERSION,
    body,
  );
  const runId = String(run.properties?.runId ?? run.name);
  process.stderr.write(`Queued a run with ID: ${runId}\n`);
  if (options.logs === false) return print(flattenChild(run), options);
  process.stderr.write('Waiting for an agent...\n');
  const final = await followLog(s, base, runId);
  if (final.properties?.status !== 'Succeeded') throw new CliError('Run failed');
}

/** Prints a run's log as it grows; returns the finished run. */
async function followLog(s: Session, base: string, runId: string): Promise<ArmResource> {
  const { logLink } = await s.client.arm<{ logLink: string }>(
    'POST',
    `${base}/runs/${runId}/listLogSasUrl`,
    TASKS_API_VERSION,
  );
  const logPath = new URL(logLink).pathname;
  let offset = 0;
  for (;;) {
    const response = await s.client.armRaw('GET', `${logPath}?offset=${offset}`, TASKS_API_VERSION);
    if (response.status !== 200)
      throw new CliError(`Could not read the run log (${response.status}).`);
    const chunk = Buffer.from(response.text, 'utf8');
    if (chunk.length > 0) process.stdout.write(chunk);
    offset += chunk.length;
    if (response.headers['x-ms-meta-complete']) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return s.client.arm<ArmResource>('GET', `${base}/runs/${runId}`, TASKS_API_VERSION);
}

async function taskRun(options: TaskOptions): Promise<void> {
  const name = requireOption(options.name, '--name/-n');
  const { base, s } = await registryPath(options);
  const task = await s.client.arm<ArmResource>('GET', `${base}/tasks/${name}`, TASKS_API_VERSION);
  const overrides: Record<string, unknown> = {};
  if (options.context) {
    const contextPath = await uploadContext(s, base, options.context);
    if (contextPath) overrides.contextPath = contextPath;
  }
  if (options.file) overrides.file = options.file;
  if (options.arg) overrides.arguments = nameValues(options.arg, '--arg');
  if (options.set) overrides.values = nameValues(options.set, '--set');
  if (options.target) overrides.target = options.target;
  await scheduleAndFollow(
    s,
    base,
    {
      type: 'TaskRunRequest',
      taskId: task.id,
      ...(Object.keys(overrides).length ? { overrideTaskStepProperties: overrides } : {}),
    },
    options,
  );
}

async function listRuns(options: TaskOptions): Promise<void> {
  const { base, s } = await registryPath(options);
  const filters = [
    ...(options.name ? [`TaskName eq '${options.name}'`] : []),
    ...(options.runStatus ? [`Status eq '${options.runStatus}'`] : []),
  ];
  const query = [
    ...(filters.length ? [`$filter=${encodeURIComponent(filters.join(' and '))}`] : []),
    `$top=${options.top ?? 15}`,
  ].join('&');
  const list = await s.client.arm<{ value: ArmResource[] }>(
    'GET',
    `${base}/runs?${query}`,
    TASKS_API_VERSION,
  );
  print(list.value.map(flattenChild), options, (result) =>
    (result as Record<string, unknown>[]).map((run) => ({
      'RUN ID': run.runId,
      TASK: run.task ?? '',
      PLATFORM: 'linux',
      STATUS: run.status,
      // Runs here are started by hand (triggers never fire).
      TRIGGER: 'Manual',
      STARTED: run.startTime ?? '',
      DURATION:
        run.startTime && run.finishTime
          ? new Date(Date.parse(String(run.finishTime)) - Date.parse(String(run.startTime)))
              .toISOString()
              .slice(11, 19)
          : '',
    })),
  );
}

async function showRun(options: TaskOptions): Promise<void> {
  const runId = requireOption(options.runId, '--run-id');
  const { base, s } = await registryPath(options);
  print(
    flattenChild(
      await s.client.arm<ArmResource>('GET', `${base}/runs/${runId}`, TASKS_API_VERSION),
    ),
    options,
  );
}

async function logs(options: TaskOptions): Promise<void> {
  const { base, s } = await registryPath(options);
  let runId = options.runId;
  if (!runId) {
    const filter = options.name
      ? `&$filter=${encodeURIComponent(`TaskName eq '${options.name}'`)}`
      : '';
    const list = await s.client.arm<{ value: ArmResource[] }>(
      'GET',
      `${base}/runs?$top=1${filter}`,
      TASKS_API_VERSION,
    );
    runId = String(list.value[0]?.properties?.runId ?? '');
    if (!runId) throw new CliError('No run was found.');
  }
  process.stderr.write(`Showing logs of the run with ID: ${runId}\n`);
  await followLog(s, base, runId);
}

async function cancelRun(options: TaskOptions): Promise<void> {
  const runId = requireOption(options.runId, '--run-id');
  const { base, s } = await registryPath(options);
  await s.client.arm('POST', `${base}/runs/${runId}/cancel`, TASKS_API_VERSION);
}

async function quickBuild(sourceLocation: string, options: TaskOptions): Promise<void> {
  if (!options.image?.length && options.push !== false) {
    throw new CliError('usage error: --image is required when pushing (or use --no-push)');
  }
  const { base, s } = await registryPath(options);
  const location = await uploadContext(s, base, sourceLocation);
  await scheduleAndFollow(
    s,
    base,
    {
      type: 'DockerBuildRequest',
      imageNames: options.image ?? [],
      isPushEnabled: options.push !== false,
      noCache: false,
      dockerFilePath: options.file ?? 'Dockerfile',
      arguments: nameValues(options.buildArg, '--build-arg'),
      ...(options.target ? { target: options.target } : {}),
      platform: { os: 'linux', architecture: 'amd64' },
      timeout: Number(options.timeout ?? 3600),
      ...(location ? { sourceLocation: location } : {}),
      credentials: { sourceRegistry: { loginMode: options.authMode ?? 'Default' } },
    },
    options,
  );
}

async function quickRun(sourceLocation: string, options: TaskOptions): Promise<void> {
  if (!options.cmd && !options.file) throw new CliError('usage error: --cmd COMMAND | --file FILE');
  const { base, s } = await registryPath(options);
  const location = await uploadContext(s, base, sourceLocation);
  const values = nameValues(options.set, '--set');
  const body: Record<string, unknown> = options.cmd
    ? {
        type: 'EncodedTaskRunRequest',
        encodedTaskContent: Buffer.from(
          `version: v1.1.0\nsteps:\n  - cmd: ${JSON.stringify(options.cmd)}\n`,
        ).toString('base64'),
        values,
      }
    : options.file === '-' || !location
      ? {
          type: 'EncodedTaskRunRequest',
          encodedTaskContent: (
            await readFile(options.file === '-' ? '/dev/stdin' : options.file!)
          ).toString('base64'),
          values,
        }
      : { type: 'FileTaskRunRequest', taskFilePath: options.file, values };
  await scheduleAndFollow(
    s,
    base,
    {
      ...body,
      platform: { os: 'linux', architecture: 'amd64' },
      timeout: Number(options.timeout ?? 3600),
      ...(location ? { sourceLocation: location } : {}),
    },
    options,
  );
}

const registryOptions = (command: Command) =>
  command
    .option('-r, --registry <registry>', "the registry's name (default: configure --defaults acr=)")
    .option('-g, --resource-group <group>', 'resource group (found automatically if omitted)');

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerAcrTaskCommands(acr: Command): void {
  const task = acr.command('task').description('manage tasks that build, push and run images');
  const named = (command: Command) =>
    registryOptions(command.option('-n, --name <name>', 'the name of the task'));

  withGlobals(
    named(task.command('create').description('create a task'))
      .option('-c, --context <path>', 'a local directory or .tar.gz to build from, or /dev/null')
      .option('-f, --file <file>', 'Dockerfile or task file (.yaml) in the context', 'Dockerfile')
      .option('-t, --image <name>', 'image name and tag ({{.Run.ID}} expands); repeatable', collect)
      .option('--arg <NAME=VALUE>', 'build argument; repeatable', collect)
      .option('--set <NAME=VALUE>', 'task file value; repeatable', collect)
      .option('--cmd <command>', 'run this image and command instead of building')
      .option(
        '--assign-identity [identities...]',
        "managed identities: '[system]' and/or user-assigned resource ids",
      )
      .addOption(
        new Option('--auth-mode <mode>', 'auth mode of the source registry').choices([
          'Default',
          'None',
        ]),
      )
      .option('--platform <platform>', 'os/architecture', 'linux/amd64')
      .option('--timeout <seconds>', 'run timeout in seconds', '3600')
      .option('--target <stage>', 'build up to this stage')
      .option('--no-push', 'build without pushing')
      .addOption(new Option('--status <status>').choices(['Enabled', 'Disabled'])),
  ).action(taskCreate);
  withGlobals(
    named(task.command('update').description('update a task'))
      .option('-c, --context <path>')
      .option('-f, --file <file>')
      .option('-t, --image <name>', 'image names; repeatable', collect)
      .option('--arg <NAME=VALUE>', 'build argument; repeatable', collect)
      .option('--set <NAME=VALUE>', 'task file value; repeatable', collect)
      .addOption(new Option('--auth-mode <mode>').choices(['Default', 'None']))
      .option('--timeout <seconds>')
      .option('--target <stage>')
      .addOption(new Option('--status <status>').choices(['Enabled', 'Disabled'])),
  ).action(taskUpdate);
  withGlobals(named(task.command('show').description('show a task'))).action(
    async (options: TaskOptions) => {
      const name = requireOption(options.name, '--name/-n');
      const { base, s } = await registryPath(options);
      print(
        flattenChild(
          await s.client.arm<ArmResource>('GET', `${base}/tasks/${name}`, TASKS_API_VERSION),
        ),
        options,
      );
    },
  );
  withGlobals(
    registryOptions(task.command('list').description('list the tasks of a registry')),
  ).action(async (options: TaskOptions) => {
    const { base, s } = await registryPath(options);
    const list = await s.client.arm<{ value: ArmResource[] }>(
      'GET',
      `${base}/tasks`,
      TASKS_API_VERSION,
    );
    print(list.value.map(flattenChild), options);
  });
  withGlobals(
    named(task.command('delete').description('delete a task')).option(
      '-y, --yes',
      'do not prompt for confirmation',
    ),
  ).action(async (options: TaskOptions) => {
    const name = requireOption(options.name, '--name/-n');
    if (!options.yes) throw new CliError(NO_TTY);
    const { base, s } = await registryPath(options);
    await s.client.arm('GET', `${base}/tasks/${name}`, TASKS_API_VERSION);
    await s.client.arm('DELETE', `${base}/tasks/${name}`, TASKS_API_VERSION);
  });
  withGlobals(
    named(task.command('run').description('run a task and stream its log'))
      .option('-c, --context <path>', 'override the context with a local directory')
      .option('-f, --file <file>', 'override the Dockerfile or task file')
      .option('--arg <NAME=VALUE>', 'build argument; repeatable', collect)
      .option('--set <NAME=VALUE>', 'task file value; repeatable', collect)
      .option('--target <stage>')
      .option('--no-logs', 'do not stream the log'),
  ).action(taskRun);
  withGlobals(
    registryOptions(task.command('list-runs').description('list runs'))
      .option('-n, --name <name>', 'only runs of this task')
      .option('--top <n>', 'at most this many runs', '15')
      .addOption(
        new Option('--run-status <status>').choices([
          'Queued',
          'Running',
          'Succeeded',
          'Failed',
          'Canceled',
        ]),
      ),
  ).action(listRuns);
  withGlobals(
    registryOptions(task.command('show-run').description('show a run')).option('--run-id <id>'),
  ).action(showRun);
  withGlobals(
    registryOptions(
      task.command('logs').description("show a run's log (the latest run by default)"),
    )
      .option('-n, --name <name>', 'the latest run of this task')
      .option('--run-id <id>'),
  ).action(logs);
  withGlobals(
    registryOptions(task.command('cancel-run').description('cancel a run')).option('--run-id <id>'),
  ).action(cancelRun);

  const credential = task
    .command('credential')
    .description("manage a task's credentials for other registries");
  for (const action of ['add', 'update'] as const) {
    withGlobals(
      named(credential.command(action).description(`${action} a custom registry credential`))
        .option('--login-server <server>', 'the registry to log in to')
        .option('--use-identity <identity>', "'[system]' or a user-assigned identity's client id")
        .option('-u, --username <username>')
        .option('-p, --password <password>'),
    ).action((options: TaskOptions) => credentialChange(options, action));
  }
  withGlobals(
    named(credential.command('remove').description('remove a custom registry credential')).option(
      '--login-server <server>',
    ),
  ).action((options: TaskOptions) => credentialChange(options, 'remove'));
  withGlobals(
    named(credential.command('list').description('list custom registry credentials')),
  ).action(async (options: TaskOptions) => {
    const name = requireOption(options.name, '--name/-n');
    const { base, s } = await registryPath(options);
    const t = await s.client.arm<ArmResource>('GET', `${base}/tasks/${name}`, TASKS_API_VERSION);
    print(
      (t.properties?.credentials as { customRegistries?: unknown } | undefined)?.customRegistries ??
        {},
      options,
    );
  });

  const identity = task.command('identity').description("manage a task's managed identities");
  for (const action of ['assign', 'remove'] as const) {
    withGlobals(
      named(identity.command(action).description(`${action} managed identities`)).option(
        '--identities <ids...>',
        "'[system]' and/or user-assigned resource ids",
      ),
    ).action((options: TaskOptions) => identityChange(options, action));
  }
  withGlobals(named(identity.command('show').description("show a task's identities"))).action(
    (options: TaskOptions) => identityChange(options, 'show'),
  );

  withGlobals(
    registryOptions(
      acr
        .command('build')
        .description('build an image from a local context, push it, stream the log'),
    )
      .argument('<source-location>', 'a local directory or .tar.gz')
      .option('-t, --image <name>', 'image name and tag; repeatable', collect)
      .option('-f, --file <file>', 'the Dockerfile', 'Dockerfile')
      .option('--build-arg <NAME=VALUE>', 'build argument; repeatable', collect)
      .option('--target <stage>')
      .option('--timeout <seconds>')
      .addOption(new Option('--auth-mode <mode>').choices(['Default', 'None']))
      .option('--no-push', 'build without pushing')
      .option('--no-logs', 'do not stream the log'),
  ).action(quickBuild);
  withGlobals(
    registryOptions(acr.command('run').description('run a task file or a command, stream the log'))
      .argument('<source-location>', 'a local directory, .tar.gz, or /dev/null')
      .option('-f, --file <file>', 'task file in the context (or - for stdin)')
      .option('--cmd <command>', 'an image and its arguments')
      .option('--set <NAME=VALUE>', 'task file value; repeatable', collect)
      .option('--timeout <seconds>')
      .option('--no-logs', 'do not stream the log'),
  ).action(quickRun);
}
