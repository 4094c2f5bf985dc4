/**
 * @module cli/commands/ml
 * `ml workspace create|show` and `ml job create|show|stream`, shaped like az's ml extension: a
 * job comes from a YAML file in Azure ML's command-job schema (`command`, `environment` as
 * `azureml:name:version` or `{image: ...}`, literal `inputs`, `uri_folder` `outputs`,
 * `environment_variables`); an inline image becomes an anonymous environment version, as az
 * makes one. `job stream` prints the job's log as it grows and ends with its summary.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { CliError } from '../errors.js';
import { RESOURCES_API_VERSION } from '../management-client.js';
import { print, type GlobalOptions } from '../output.js';
import { flatten, session, withGlobals, type ArmResource, type Session } from './common.js';

export const ML_API_VERSION = '2024-04-01';
const TYPE = 'Microsoft.MachineLearningServices/workspaces';
const TERMINAL = ['Completed', 'Failed', 'Canceled'];

interface MlOptions extends GlobalOptions {
  name?: string;
  resourceGroup?: string;
  workspaceName?: string;
  location?: string;
  primaryUserAssignedIdentity?: string;
  file?: string;
  stream?: boolean;
}

function required(value: string | undefined, flag: string): string {
  if (!value) throw new CliError(`the following arguments are required: ${flag}`);
  return value;
}

function workspacePath(s: Session, options: MlOptions, name = options.workspaceName): string {
  const group = required(options.resourceGroup, '--resource-group/-g');
  return `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${group}/providers/${TYPE}/${required(name, '--workspace-name/-w')}`;
}

/** az ml's view of a job: its definition and status, with the ARM envelope's id and name. */
function jobView(job: ArmResource): Record<string, unknown> {
  const p = job.properties ?? {};
  const inputs = Object.fromEntries(
    Object.entries((p.inputs ?? {}) as Record<string, { value?: unknown }>).map(([k, v]) => [
      k,
      v.value,
    ]),
  );
  const outputs = Object.fromEntries(
    Object.keys((p.outputs ?? {}) as object).map((k) => [k, { type: 'uri_folder' }]),
  );
  return {
    command: p.command,
    environment: p.environmentId,
    environment_variables: p.environmentVariables ?? {},
    id: job.id,
    inputs,
    name: job.name,
    outputs,
    resourceGroup: /\/resourceGroups\/([^/]+)/i.exec(job.id)?.[1] ?? null,
    status: p.status,
    type: 'command',
    ...(p.error ? { error: p.error } : {}),
  };
}

/** The ARM job body of an Azure ML command-job YAML file. */
async function jobBody(
  s: Session,
  workspace: string,
  file: string,
): Promise<Record<string, unknown>> {
  let spec: Record<string, unknown>;
  try {
    spec = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`Cannot read the job file '${file}': ${(error as Error).message}`);
  }
  if (spec.type !== undefined && spec.type !== 'command') {
    throw new CliError(
      `Only command jobs are supported; the file has type '${String(spec.type)}'.`,
    );
  }
  if (typeof spec.command !== 'string') throw new CliError("The job file needs a 'command'.");
  let environmentId: string;
  const environment = spec.environment;
  if (typeof environment === 'string') {
    environmentId = environment;
  } else if (
    environment &&
    typeof environment === 'object' &&
    typeof (environment as { image?: unknown }).image === 'string'
  ) {
    const image = (environment as { image: string }).image;
    // az registers an inline image as a version of an anonymous environment.
    const version = createHash('sha256').update(image).digest('hex').slice(0, 32);
    await s.client.arm(
      'PUT',
      `${workspace}/environments/CliV2AnonymousEnvironment/versions/${version}`,
      ML_API_VERSION,
      {
        properties: { image },
      },
    );
    environmentId = `azureml:CliV2AnonymousEnvironment:${version}`;
  } else {
    throw new CliError(
      "The job file needs an 'environment' (azureml:name:version, or image: ...).",
    );
  }
  const inputs = Object.fromEntries(
    Object.entries((spec.inputs ?? {}) as Record<string, unknown>).map(([name, value]) => {
      const literal =
        value && typeof value === 'object' ? (value as { value?: unknown }).value : value;
      return [name, { jobInputType: 'literal', value: String(literal) }];
    }),
  );
  const outputs = Object.fromEntries(
    Object.keys((spec.outputs ?? {}) as object).map((name) => [
      name,
      { jobOutputType: 'uri_folder' },
    ]),
  );
  return {
    properties: {
      jobType: 'Command',
      command: spec.command,
      environmentId,
      inputs,
      outputs,
      environmentVariables: spec.environment_variables ?? {},
      ...(typeof spec.display_name === 'string' ? { displayName: spec.display_name } : {}),
      ...(typeof spec.experiment_name === 'string' ? { experimentName: spec.experiment_name } : {}),
    },
  };
}

/** Prints the log as it grows until the job ends; a failed job ends in one ERROR line. */
async function stream(s: Session, jobPath: string, name: string): Promise<void> {
  process.stdout.write(`RunId: ${name}\n\n`);
  let shown = 0;
  for (;;) {
    const job = await s.client.arm<ArmResource>('GET', jobPath, ML_API_VERSION);
    const logs = await s.client.arm<{ content?: string }>('GET', `${jobPath}/logs`, ML_API_VERSION);
    const content = logs.content ?? '';
    if (content.length > shown) {
      process.stdout.write(content.slice(shown));
      shown = content.length;
    }
    const status = String(job.properties?.status ?? '');
    if (TERMINAL.includes(status)) {
      process.stdout.write(
        `\nExecution Summary\n=================\nRunId: ${name}\nStatus: ${status}\n`,
      );
      if (status !== 'Completed') {
        const error = job.properties?.error as { code?: string; message?: string } | undefined;
        throw new CliError(error?.message ?? `The job ${name} ended ${status}.`);
      }
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export function registerMlCommands(program: Command): void {
  const ml = program.command('ml').description('manage machine learning workspaces and jobs');
  const workspace = ml.command('workspace').description('manage workspaces');
  withGlobals(
    workspace
      .command('create')
      .description(
        'create a workspace (with a system-assigned identity unless a primary user-assigned one is given)',
      )
      .option('-n, --name <name>', 'the workspace name')
      .option('-g, --resource-group <group>', 'resource group')
      .option('-l, --location <location>', "location (default: the resource group's)")
      .option(
        '--primary-user-assigned-identity <id>',
        'a user-assigned identity the workspace uses',
      ),
  ).action(async (options: MlOptions) => {
    const s = session();
    const path = workspacePath(s, options, options.name);
    const location =
      options.location ??
      (
        await s.client.arm<{ location: string }>(
          'GET',
          `/subscriptions/${s.profile.subscriptionId}/resourceGroups/${options.resourceGroup}`,
          RESOURCES_API_VERSION,
        )
      ).location;
    const primary = options.primaryUserAssignedIdentity;
    const created = await s.client.arm<ArmResource>('PUT', path, ML_API_VERSION, {
      location,
      identity: primary
        ? { type: 'UserAssigned', userAssignedIdentities: { [primary]: {} } }
        : { type: 'SystemAssigned' },
      properties: {
        friendlyName: options.name,
        ...(primary ? { primaryUserAssignedIdentity: primary } : {}),
      },
    });
    print(flatten(created), options);
  });
  withGlobals(
    workspace
      .command('show')
      .description('show a workspace')
      .option('-n, --name <name>', 'the workspace name')
      .option('-g, --resource-group <group>', 'resource group'),
  ).action(async (options: MlOptions) => {
    const s = session();
    print(
      flatten(
        await s.client.arm<ArmResource>(
          'GET',
          workspacePath(s, options, options.name),
          ML_API_VERSION,
        ),
      ),
      options,
    );
  });

  const job = ml.command('job').description('manage jobs');
  const scoped = (c: Command) =>
    c
      .option('-g, --resource-group <group>', 'resource group')
      .option('-w, --workspace-name <name>', 'the workspace');
  withGlobals(
    scoped(job.command('create').description('create a command job from a YAML file'))
      .option('-f, --file <file>', "the job's YAML (Azure ML command-job schema)")
      .option('-n, --name <name>', "the job's name (default: generated)")
      .option('-s, --stream', 'stream the log until the job ends'),
  ).action(async (options: MlOptions) => {
    const s = session();
    const ws = workspacePath(s, options);
    const body = await jobBody(s, ws, required(options.file, '--file/-f'));
    const name = options.name ?? `job_${randomBytes(5).toString('hex')}`;
    const created = await s.client.arm<ArmResource>(
      'PUT',
      `${ws}/jobs/${name}`,
      ML_API_VERSION,
      body,
    );
    if (options.stream) return stream(s, `${ws}/jobs/${name}`, name);
    print(jobView(created), options);
  });
  withGlobals(
    scoped(job.command('show').description('show a job')).option(
      '-n, --name <name>',
      "the job's name",
    ),
  ).action(async (options: MlOptions) => {
    const s = session();
    const path = `${workspacePath(s, options)}/jobs/${required(options.name, '--name/-n')}`;
    print(jobView(await s.client.arm<ArmResource>('GET', path, ML_API_VERSION)), options);
  });
  scoped(job.command('stream').description("stream a job's log until it ends"))
    .option('-n, --name <name>', "the job's name")
    .action(async (options: MlOptions) => {
      const s = session();
      const name = required(options.name, '--name/-n');
      await stream(s, `${workspacePath(s, options)}/jobs/${name}`, name);
    });
}
