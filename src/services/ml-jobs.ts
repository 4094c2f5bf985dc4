/**
 * @module services/ml-jobs
 * Machine-learning command jobs as a trusted service: the job's environment is a custom image,
 * pulled through the data endpoint with the WORKSPACE's managed identity, unpacked with the
 * runtime, and the job's command run in the sandbox by `/bin/sh -c`, with `${{inputs.x}}`
 * (literal inputs) and `${{outputs.y}}` (a folder) substituted as Azure ML does. Each output
 * folder is kept with the job after it ends. Status follows Azure ML's job states: Queued,
 * Preparing (the image), Running, then Completed, Failed or Canceled.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { runInSandbox } from '../runtime/index.js';
import type { ServiceEnvironment } from './environment.js';
import {
  ImagePuller,
  ImagePullError,
  mergeEnvironment,
  runConfigOf,
  unpackImage,
} from './image-pull.js';

export interface MlJobSpec {
  /** The job's resource id. */
  id: string;
  /** The workspace whose identity pulls the image. */
  workspaceId: string;
  /** `system`, or the workspace's primary user-assigned identity. */
  identity: string;
  image: string;
  command: string;
  environmentVariables: Record<string, string>;
  /** Literal inputs by name. */
  inputs: Record<string, string>;
  /** Output folder names. */
  outputs: string[];
}

export type MlJobStatus = 'Queued' | 'Preparing' | 'Running' | 'Completed' | 'Failed' | 'Canceled';

export interface MlJobView {
  status: MlJobStatus;
  startTime?: string;
  endTime?: string;
  exitCode?: number;
  error?: { code: string; message: string };
}

export interface MlJobRunnerOptions {
  environment: ServiceEnvironment;
  identityToken: (resourceId: string, identity: string) => Promise<string>;
  /** Where root filesystems are unpacked and outputs kept. */
  workDirectory: string;
  timeoutMs: number;
}

/** Where a job's output folders are inside its sandbox. */
const OUTPUTS_IN_SANDBOX = '/mnt/outputs';
const LOG_LIMIT = 1024 * 1024;

export class MlJobRunner {
  private readonly puller: ImagePuller;
  private readonly running = new Map<string, AbortController>();
  private readonly logs = new Map<string, string>();

  constructor(private readonly options: MlJobRunnerOptions) {
    this.puller = new ImagePuller(options.environment);
  }

  /** Runs a job in the background; `report` receives every status change. */
  start(job: MlJobSpec, report: (view: MlJobView) => Promise<void>): void {
    const abort = new AbortController();
    this.running.set(job.id.toLowerCase(), abort);
    this.logs.set(job.id.toLowerCase(), '');
    void this.run(job, abort.signal, report)
      .catch(() => undefined)
      .finally(() => this.running.delete(job.id.toLowerCase()));
  }

  cancel(jobId: string): void {
    this.running.get(jobId.toLowerCase())?.abort();
  }

  /** Stops a deleted job and removes what it kept. */
  async forget(jobId: string): Promise<void> {
    this.cancel(jobId);
    this.logs.delete(jobId.toLowerCase());
    await rm(this.jobDirectory(jobId), { recursive: true, force: true });
  }

  logsOf(jobId: string): string | undefined {
    return this.logs.get(jobId.toLowerCase());
  }

  /** The files of a finished job's output folder (path relative to the folder, size). */
  async outputFiles(jobId: string, output: string): Promise<{ path: string; size: number }[]> {
    const folder = join(this.jobDirectory(jobId), 'outputs', output);
    const files: { path: string; size: number }[] = [];
    const walk = async (directory: string): Promise<void> => {
      for (const entry of await readdir(directory, { withFileTypes: true }).catch(() => [])) {
        const path = join(directory, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.isFile())
          files.push({ path: relative(folder, path), size: (await stat(path)).size });
      }
    };
    await walk(folder);
    return files.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** One kept output file, or undefined (a path may not leave its folder). */
  async outputFile(jobId: string, output: string, path: string): Promise<Buffer | undefined> {
    const folder = join(this.jobDirectory(jobId), 'outputs', output);
    const file = join(folder, path);
    if (relative(folder, file).startsWith('..')) return undefined;
    return readFile(file).catch(() => undefined);
  }

  private jobDirectory(jobId: string): string {
    return join(
      this.options.workDirectory,
      createHash('sha256').update(jobId.toLowerCase()).digest('hex').slice(0, 16),
    );
  }

  private async run(
    job: MlJobSpec,
    signal: AbortSignal,
    report: (view: MlJobView) => Promise<void>,
  ): Promise<void> {
    const key = job.id.toLowerCase();
    const log = (text: string) => {
      const all = (this.logs.get(key) ?? '') + text;
      this.logs.set(key, all.length > LOG_LIMIT ? all.slice(-LOG_LIMIT) : all);
    };
    const view: MlJobView = { status: 'Queued' };
    await report(view);
    const directory = this.jobDirectory(job.id);
    const root = join(directory, 'rootfs');
    const end = async (status: MlJobStatus, extra: Partial<MlJobView> = {}) => {
      Object.assign(view, { status, endTime: new Date().toISOString(), ...extra });
      await rm(root, { recursive: true, force: true });
      await report(view);
    };
    try {
      view.status = 'Preparing';
      view.startTime = new Date().toISOString();
      await report(view);
      log(`Pulling image ${job.image}\n`);
      const pulled = await this.puller.resolve(job.image, {
        kind: 'identity',
        token: () => this.options.identityToken(job.workspaceId, job.identity),
      });
      await rm(root, { recursive: true, force: true });
      await mkdir(root, { recursive: true });
      await unpackImage(pulled, root);
      for (const output of job.outputs) {
        await mkdir(join(root, OUTPUTS_IN_SANDBOX, output), { recursive: true });
      }
      if (signal.aborted) return await end('Canceled');
      view.status = 'Running';
      await report(view);
      const config = runConfigOf(pulled);
      const result = await runInSandbox({
        root,
        argv: ['/bin/sh', '-c', substitute(job)],
        env: mergeEnvironment(config.Env, {
          ...job.environmentVariables,
          ...Object.fromEntries(
            job.outputs.map((o) => [`AZURE_ML_OUTPUT_${o}`, `${OUTPUTS_IN_SANDBOX}/${o}`]),
          ),
        }),
        ...(config.WorkingDir ? { workingDir: config.WorkingDir } : {}),
        ...(config.User ? { user: config.User } : {}),
        timeoutMs: this.options.timeoutMs,
        signal,
        onOutput: (chunk) => log(chunk.toString('utf8')),
      });
      // Outputs are kept whatever the exit code: a failed job's partial output helps.
      for (const output of job.outputs) {
        const kept = join(directory, 'outputs', output);
        await rm(kept, { recursive: true, force: true });
        await mkdir(join(directory, 'outputs'), { recursive: true });
        await cp(join(root, OUTPUTS_IN_SANDBOX, output), kept, { recursive: true });
      }
      if (result.cancelled) return await end('Canceled');
      if (result.timedOut) {
        return await end('Failed', {
          error: {
            code: 'JobTimeout',
            message: 'The job exceeded its time limit and was stopped.',
          },
        });
      }
      if (result.exitCode !== 0) {
        return await end('Failed', {
          exitCode: result.exitCode,
          error: {
            code: 'UserError',
            message: `Execution failed. User process '/bin/sh' exited with status code ${result.exitCode}. Please check log file 'user_logs/std_log.txt' for error details.`,
          },
        });
      }
      return await end('Completed', { exitCode: 0 });
    } catch (error) {
      if (error instanceof ImagePullError) {
        log(`${error.message}\n`);
        return await end('Failed', {
          error: {
            code: 'UserError',
            message: `Failed to pull Docker image ${job.image}. This error may occur because the compute could not authenticate with the Docker registry to pull the image. If using ACR please ensure the ACR has a Managed Identity with 'AcrPull' access assigned to the workspace. ${error.registryError.describe()}`,
          },
        });
      }
      log(`${error instanceof Error ? error.message : String(error)}\n`);
      return await end('Failed', {
        error: {
          code: 'SystemError',
          message: error instanceof Error ? error.message : String(error),
        },
      });
    }
  }
}

/** `${{inputs.name}}` and `${{outputs.name}}` in the command, as Azure ML replaces them. */
function substitute(job: MlJobSpec): string {
  return job.command.replace(
    /\$\{\{\s*(inputs|outputs)\.([\w-]+)\s*\}\}/g,
    (whole, kind: string, name: string) => {
      if (kind === 'inputs')
        return job.inputs[name] !== undefined ? shellQuote(job.inputs[name]!) : whole;
      return job.outputs.includes(name) ? `${OUTPUTS_IN_SANDBOX}/${name}` : whole;
    },
  );
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
