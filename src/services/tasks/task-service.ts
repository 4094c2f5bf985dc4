/**
 * @module services/tasks/task-service
 * The task runner: a platform service apart from the registry. It queues runs (of a task, a
 * quick build of an uploaded context, or a quick run of a task file), runs each as the task's
 * identity, and keeps the run record and its log. Every registry it touches is reached through
 * the public data endpoint by `RunRegistries`, with the run's credentials only, so firewall
 * rules, the trusted-services bypass and role checks judge it exactly as they judge anyone.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type {
  ControlPlaneStore,
  NewResource,
  ResourceRecord,
  RunLogStore,
} from '../../metadata/index.js';
import { applyLayer, runInSandbox } from '../../runtime/index.js';
import type { ServiceEnvironment } from '../environment.js';
import { formatImageName, parseImageName, type ImageName } from '../image-name.js';
import { unpackImage } from '../image-pull.js';
import { RegistryClientError } from '../registry-client.js';
import type { WorkClaim, WorkLeases } from '../work-leases.js';
import { buildImage, pushImage, type BuiltImage } from './image-builder.js';
import { RunLog } from './run-log.js';
import { RunRegistries, type RunCredentials } from './run-registries.js';
import { expandRunValues, parseTaskFile, type RunValues } from './task-file.js';

export const RUN_TYPE = 'Microsoft.ContainerRegistry/registries/runs';
export const ACTIVE_RUN_STATUSES = new Set(['Queued', 'Started', 'Running']);
/** How often a running run looks for a cancel recorded by another replica. */
const CANCEL_POLL_MS = 1000;
/** What a run left by a stopped replica ends with (users see it as the run's error). */
export const REPLICA_STOPPED = 'the replica running the run stopped while the run was active';

/** What to run: ACR's task step shapes (`Docker`, `FileTask`, `EncodedTask`). */
export type RunStep =
  | {
      type: 'Docker';
      dockerFilePath: string;
      imageNames: string[];
      isPushEnabled: boolean;
      arguments: Array<{ name: string; value: string }>;
      target?: string;
    }
  | { type: 'FileTask'; taskFilePath: string; values: Array<{ name: string; value: string }> }
  | {
      type: 'EncodedTask';
      encodedTaskContent: string;
      values: Array<{ name: string; value: string }>;
    };

export interface RunRequest {
  registry: {
    resourceId: string;
    name: string;
    loginServer: string;
    location: string;
    subscriptionId: string;
    resourceGroup: string;
  };
  runType: 'QuickBuild' | 'QuickRun' | 'AutoRun';
  /** The task this run belongs to (it holds the identities), if any. */
  task?: { name: string; resourceId: string };
  step: RunStep;
  /** `relativePath` of an uploaded source archive (listBuildSourceUploadUrl). */
  sourceLocation?: string;
  credentials: RunCredentials;
  timeoutSeconds: number;
  platform: { os: string; architecture: string };
}

/**
 * Where uploaded source archives (`listBuildSourceUploadUrl`) are kept, by upload key: the
 * platform keeps them in the registry's shared blob store, so an upload and its run may land
 * on different replicas.
 */
export interface SourceArchives {
  /** Stores (or replaces) an archive; a failed store leaves nothing behind. */
  store(key: string, archive: Readable): Promise<void>;
  /** The archive, or undefined when there is none (never uploaded, or expired). */
  open(key: string): Promise<Readable | undefined>;
}

export interface TaskServiceDependencies {
  controlPlane: ControlPlaneStore;
  runLogs: RunLogStore;
  environment: ServiceEnvironment;
  /** A token of one of `resourceId`'s managed identities, for the registry audience. */
  identityToken: (resourceId: string, identity: string) => Promise<string>;
  /** The run's implicit refresh token for its own registry (not a trusted-service credential). */
  runToken: (runResourceId: string, loginServer: string) => Promise<string>;
  logger: Logger;
  /** Scratch space for runs (root filesystems, layers). */
  workDirectory: string;
  /** Uploaded source archives, kept where every replica reads them. */
  sources: SourceArchives;
  /** Upper bound for any run's timeout. */
  maxTimeoutSeconds: number;
  /** This process's leases: each run is leased to the replica that holds it. */
  leases: WorkLeases;
}

class RunFailure extends Error {
  override name = 'RunFailure';
}

interface QueuedRun {
  request: RunRequest;
  record: ResourceRecord;
  claim: WorkClaim | undefined;
}

export class TaskService {
  private readonly queue: QueuedRun[] = [];
  private readonly running = new Map<string, AbortController>();
  /** The runs executing here, to wait for at shutdown. */
  private readonly executions = new Set<Promise<void>>();
  /** Run ids are handed out one at a time (the number comes from the runs already stored). */
  private idLock: Promise<unknown> = Promise.resolve();
  private static readonly CONCURRENCY = 2;
  private queueWatch: NodeJS.Timeout | undefined;

  constructor(private readonly deps: TaskServiceDependencies) {
    deps.leases.onAbandoned(RUN_TYPE, (id) => this.failAbandoned(id));
  }

  /**
   * Fails the runs that replicas which stopped left active and that their leases do not show:
   * runs recorded by a replica that died before leasing them, and runs from before leases
   * (the periodic sweep of `WorkLeases` reads only the leases). Then watches the queue for
   * cancels made through other replicas.
   */
  async start(): Promise<void> {
    const now = new Date();
    for (const subscription of await this.deps.controlPlane.listSubscriptions()) {
      const runs = await this.deps.controlPlane.listResources({
        subscriptionId: subscription.id,
        type: RUN_TYPE,
      });
      for (const run of runs) {
        if (!ACTIVE_RUN_STATUSES.has(String(run.properties.status))) continue;
        if (this.deps.leases.holds(run.id)) continue;
        const lease = await this.deps.leases.find(run.id);
        if (lease ? this.deps.leases.holderGone(lease, now) : this.olderThanLease(run, now))
          await this.deps.leases.takeOver(run.id, lease, now, (id) => this.failAbandoned(id));
      }
    }
    this.queueWatch = setInterval(() => {
      this.cancelQueuedRuns().catch((error: unknown) =>
        this.deps.logger.warn({ err: error }, 'checking queued runs for cancels failed'),
      );
    }, this.deps.leases.leaseMs / 3);
    this.queueWatch.unref();
  }

  private async failAbandoned(runId: string): Promise<void> {
    await this.update(runId, () => ({
      status: 'Failed',
      runErrorMessage: REPLICA_STOPPED,
      finishTime: new Date().toISOString(),
    }));
  }

  /** A run is recorded just before it is leased: one without a lease gets a lease's time. */
  private olderThanLease(run: ResourceRecord, now: Date): boolean {
    const updated = Date.parse(String(run.properties.lastUpdatedTime ?? run.updatedAt));
    return !(now.getTime() - updated < this.deps.leases.leaseMs);
  }

  /** Ends the runs queued here that were canceled through another replica. */
  private async cancelQueuedRuns(): Promise<void> {
    for (const entry of [...this.queue]) {
      const stored = await this.deps.controlPlane.getResource(entry.record.id);
      if (stored?.properties.cancelRequested !== true) continue;
      const index = this.queue.indexOf(entry);
      if (index < 0) continue; // it started meanwhile
      this.queue.splice(index, 1);
      await this.finishCanceled(entry);
    }
  }

  /** Records a Queued run, leased to this replica, and starts it when a slot is free. */
  async schedule(request: RunRequest): Promise<ResourceRecord> {
    const record = await this.allocate(request);
    const id = record.id.toLowerCase();
    // Another replica took the run over (this one stalled past its lease; the run was failed).
    const claim = await this.deps.leases.claim(record.id, () => {
      this.running.get(id)?.abort(new RunFailure(REPLICA_STOPPED));
      const index = this.queue.findIndex((entry) => entry.record.id.toLowerCase() === id);
      if (index >= 0) this.queue.splice(index, 1);
    });
    this.queue.push({ request, record, claim });
    this.pump();
    return record;
  }

  /**
   * Cancels a run. The request is recorded on the run, so the process that runs it stops it
   * even when the cancel arrived at another replica; a run still queued here ends at once.
   */
  async cancel(runResourceId: string): Promise<void> {
    const id = runResourceId.toLowerCase();
    await this.update(runResourceId, () => ({ cancelRequested: true }));
    this.running.get(id)?.abort();
    const index = this.queue.findIndex((entry) => entry.record.id.toLowerCase() === id);
    if (index >= 0) {
      const [entry] = this.queue.splice(index, 1);
      await this.finishCanceled(entry!);
    }
  }

  /** Ends a run that never started as Canceled, and gives up its lease. */
  private async finishCanceled(entry: QueuedRun): Promise<void> {
    await this.update(entry.record.id, () => ({
      status: 'Canceled',
      finishTime: new Date().toISOString(),
    }));
    await entry.claim?.release();
  }

  /** Stops a run whose record asks for it (a cancel that reached another replica). */
  private watchForCancel(id: string, controller: AbortController): NodeJS.Timeout {
    const watcher = setInterval(() => {
      this.deps.controlPlane.getResource(id).then(
        (run) => {
          if (run?.properties.cancelRequested === true) controller.abort();
        },
        () => undefined,
      );
    }, CANCEL_POLL_MS);
    watcher.unref();
    return watcher;
  }

  /** The key of the source archive at `relativePath` (as the upload URL named it). */
  private sourceKey(relativePath: string): string {
    const match = /^source\/([0-9a-z-]{1,100})\.tar\.gz$/.exec(relativePath);
    if (!match) throw new RunFailure(`unknown source location '${relativePath}'`);
    return match[1]!;
  }

  /** Stores an uploaded source archive (replacing an earlier upload to the same URL). */
  async storeSource(relativePath: string, archive: Readable): Promise<void> {
    await this.deps.sources.store(this.sourceKey(relativePath), archive);
  }

  private async openSource(relativePath: string): Promise<Readable> {
    const archive = await this.deps.sources.open(this.sourceKey(relativePath));
    if (!archive) {
      throw new RunFailure(
        `the source archive '${relativePath}' does not exist (uploads expire after a day)`,
      );
    }
    return archive;
  }

  /**
   * Stops every active run and waits (a bounded while) for each to record that it ended
   * because this replica stopped. Queued runs are left to the other replicas' sweep.
   */
  async close(): Promise<void> {
    clearInterval(this.queueWatch);
    this.queue.length = 0;
    for (const controller of this.running.values())
      controller.abort(new RunFailure(REPLICA_STOPPED));
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.executions]),
      new Promise((resolve) => (bound = setTimeout(resolve, 10_000))),
    ]);
    clearTimeout(bound);
  }

  /**
   * Records the next run id of the registry (`ca1`, `ca2`, ...). Ids are counted from the runs
   * stored, and another replica may count the same: the id is created only if still free, and
   * counted again otherwise. The in-process lock spares this replica's own races a retry.
   */
  private allocate(request: RunRequest): Promise<ResourceRecord> {
    const next = this.idLock.then(async () => {
      for (;;) {
        const created = await this.deps.controlPlane.createResource(
          this.newRun(request, await this.nextRunId(request)),
        );
        if (created) return created;
      }
    });
    this.idLock = next.catch(() => undefined);
    return next;
  }

  private async nextRunId(request: RunRequest): Promise<string> {
    const prefix = `${request.registry.resourceId.toLowerCase()}/runs/`;
    const existing = await this.deps.controlPlane.listResources({
      subscriptionId: request.registry.subscriptionId,
      resourceGroup: request.registry.resourceGroup,
      type: RUN_TYPE,
    });
    const highest = existing
      .filter((run) => run.id.toLowerCase().startsWith(prefix))
      .map((run) => Number(/^[a-z]+(\d+)$/.exec(run.name)?.[1] ?? 0))
      .reduce((a, b) => Math.max(a, b), 0);
    return `ca${highest + 1}`;
  }

  private newRun(request: RunRequest, runId: string): NewResource {
    const now = new Date().toISOString();
    return {
      id: `${request.registry.resourceId}/runs/${runId}`,
      type: RUN_TYPE,
      subscriptionId: request.registry.subscriptionId,
      resourceGroup: request.registry.resourceGroup.toLowerCase(),
      name: runId,
      location: null,
      tags: null,
      sku: null,
      identity: null,
      systemData: null,
      properties: {
        runId,
        status: 'Queued',
        lastUpdatedTime: now,
        runType: request.runType,
        createTime: now,
        ...(request.task ? { task: request.task.name } : {}),
        platform: { os: request.platform.os, architecture: request.platform.architecture },
        agentConfiguration: { cpu: 2 },
        timeout: request.timeoutSeconds,
        outputImages: [],
        isArchiveEnabled: false,
        provisioningState: 'Succeeded',
      },
    };
  }

  private pump(): void {
    while (this.running.size < TaskService.CONCURRENCY && this.queue.length > 0) {
      const { request, record, claim } = this.queue.shift()!;
      const controller = new AbortController();
      this.running.set(record.id.toLowerCase(), controller);
      const execution = this.execute(request, record, controller)
        // After the final status: a sweep that finds the run without a lease finds it ended.
        .finally(() => claim?.release())
        .catch((error: unknown) =>
          this.deps.logger.error({ err: error, run: record.id }, 'task run crashed'),
        )
        .finally(() => {
          this.running.delete(record.id.toLowerCase());
          this.executions.delete(execution);
          this.pump();
        });
      this.executions.add(execution);
    }
  }

  /**
   * Changes an active run's record, compare-and-set, so a change made meanwhile by another
   * replica (a cancel, a sweep) is never overwritten. A run that ended stays as it ended: the
   * change is dropped. `changes` sees the properties stored now. The stored run, or undefined.
   */
  private async update(
    id: string,
    changes: (properties: Record<string, unknown>) => Record<string, unknown>,
  ): Promise<ResourceRecord | undefined> {
    return this.deps.controlPlane.updateResourceProperties(id, (properties) =>
      ACTIVE_RUN_STATUSES.has(String(properties.status))
        ? { ...properties, ...changes(properties), lastUpdatedTime: new Date().toISOString() }
        : undefined,
    );
  }

  private async execute(
    request: RunRequest,
    record: ResourceRecord,
    controller: AbortController,
  ): Promise<void> {
    const runId = record.name;
    const started = Date.now();
    const log = new RunLog(this.deps.runLogs, record.id);
    const timeoutSeconds = Math.min(request.timeoutSeconds, this.deps.maxTimeoutSeconds);
    const timer = setTimeout(
      () => controller.abort(new RunFailure(`the run timed out after ${timeoutSeconds} seconds`)),
      timeoutSeconds * 1000,
    );
    const cancelWatch = this.watchForCancel(record.id, controller);
    // A cancel through another replica, or a sweep, may have ended the run while it was queued.
    const begun = await this.update(record.id, (properties) =>
      properties.cancelRequested === true
        ? { status: 'Canceled', finishTime: new Date().toISOString() }
        : { status: 'Running', startTime: new Date(started).toISOString() },
    );
    if (begun?.properties.status !== 'Running') {
      clearTimeout(timer);
      clearInterval(cancelWatch);
      return;
    }
    log.line(`Run ID: ${runId} started on ${new Date(started).toISOString()}`);
    await mkdir(this.deps.workDirectory, { recursive: true });
    const workDir = await mkdtemp(join(this.deps.workDirectory, `${runId}-`));
    const outputImages: Array<Record<string, string>> = [];
    try {
      const context = join(workDir, 'context');
      await mkdir(context);
      if (request.sourceLocation) {
        log.line('Downloading source code...');
        await applyLayer(context, await this.openSource(request.sourceLocation));
      }
      const registries = new RunRegistries({
        environment: this.deps.environment,
        credentials: request.credentials,
        ownLoginServer: request.registry.loginServer,
        runResourceId: record.id,
        ...(request.task ? { taskResourceId: request.task.resourceId } : {}),
        identityToken: this.deps.identityToken,
        runToken: this.deps.runToken,
        log: (text) => log.write(text),
      });
      await registries.loginAll();
      const values: RunValues = {
        id: runId,
        registry: request.registry.loginServer,
        values: Object.fromEntries(stepValues(request.step).map((v) => [v.name, v.value])),
      };
      const run = new StepRunner(
        request,
        values,
        registries,
        context,
        workDir,
        log,
        controller.signal,
        outputImages,
      );
      await run.run();
      const seconds = Math.round((Date.now() - started) / 1000);
      log.line(`\nRun ID: ${runId} was successful after ${seconds}s`);
      await this.update(record.id, () => ({
        status: 'Succeeded',
        finishTime: new Date().toISOString(),
        outputImages,
      }));
    } catch (caught) {
      const reason = controller.signal.aborted ? controller.signal.reason : caught;
      const canceled = controller.signal.aborted && !(reason instanceof RunFailure);
      const message = canceled
        ? 'the run was canceled'
        : reason instanceof RegistryClientError
          ? reason.describe()
          : (reason as Error).message;
      const seconds = Math.round((Date.now() - started) / 1000);
      log.line(`${message}`);
      log.line(
        `\nRun ID: ${runId} ${canceled ? 'was canceled' : 'failed'} after ${seconds}s. Error: ${message}`,
      );
      await this.update(record.id, () => ({
        status: canceled ? 'Canceled' : 'Failed',
        finishTime: new Date().toISOString(),
        runErrorMessage: message,
        outputImages,
      }));
    } finally {
      clearTimeout(timer);
      clearInterval(cancelWatch);
      await log.close();
      await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

function stepValues(step: RunStep): Array<{ name: string; value: string }> {
  return step.type === 'Docker' ? [] : step.values;
}

/** Runs the steps of one run: a Docker build, or the steps of a task file. */
class StepRunner {
  /** Images built in this run, by full name (what `push` and `cmd` steps refer to). */
  private readonly built = new Map<string, BuiltImage>();

  constructor(
    private readonly request: RunRequest,
    private readonly values: RunValues,
    private readonly registries: RunRegistries,
    private readonly context: string,
    private readonly workDir: string,
    private readonly log: RunLog,
    private readonly signal: AbortSignal,
    private readonly outputImages: Array<Record<string, string>>,
  ) {}

  private get stepTimeoutMs(): number {
    return this.request.timeoutSeconds * 1000;
  }

  private imageName(name: string): ImageName {
    return parseImageName(expandRunValues(name, this.values), this.request.registry.loginServer);
  }

  async run(): Promise<void> {
    const step = this.request.step;
    if (step.type === 'Docker') {
      const tags = step.imageNames.map((name) => this.imageName(name));
      const image = await this.build(
        step.dockerFilePath,
        Object.fromEntries(
          step.arguments.map((a) => [a.name, expandRunValues(a.value, this.values)]),
        ),
        this.context,
        step.target,
      );
      if (step.isPushEnabled) for (const tag of tags) await this.push(image, tag);
      return;
    }
    const source =
      step.type === 'EncodedTask'
        ? Buffer.from(step.encodedTaskContent, 'base64').toString('utf8')
        : await readFile(join(this.context, step.taskFilePath), 'utf8').catch(() => {
            throw new RunFailure(`the task file '${step.taskFilePath}' is not in the source`);
          });
    const steps = parseTaskFile(source, this.values);
    for (const [index, taskStep] of steps.entries()) {
      if (this.signal.aborted) throw new RunFailure('the run was canceled');
      this.log.line(`\nStep ${index + 1}/${steps.length} (${taskStep.id}): ${taskStep.kind}`);
      if (taskStep.kind === 'build') {
        const context = join(this.context, taskStep.context);
        const image = await this.build(
          taskStep.dockerfile,
          taskStep.buildArgs,
          context,
          taskStep.target,
        );
        for (const tag of taskStep.tags)
          this.built.set(formatImageName(this.imageName(tag)), image);
      } else if (taskStep.kind === 'push') {
        for (const name of taskStep.images) {
          const tag = this.imageName(name);
          const image = this.built.get(formatImageName(tag));
          if (!image) throw new RunFailure(`An image does not exist locally with the tag: ${name}`);
          await this.push(image, tag);
        }
      } else {
        await this.command(taskStep.image, taskStep.args, taskStep.env, taskStep.workingDirectory);
      }
    }
  }

  private async build(
    dockerfile: string,
    buildArgs: Record<string, string>,
    context: string,
    target?: string,
  ): Promise<BuiltImage> {
    return buildImage({
      contextDir: context,
      dockerfile,
      buildArgs,
      ...(target ? { target } : {}),
      workDir: this.workDir,
      registries: this.registries,
      log: (text) => this.log.write(text),
      signal: this.signal,
      stepTimeoutMs: this.stepTimeoutMs,
    });
  }

  private async push(image: BuiltImage, tag: ImageName): Promise<void> {
    this.log.line(`Pushing image: ${formatImageName(tag)}, attempt 1`);
    const client = await this.registries.client(tag.registry);
    const digest = await pushImage(image, tag, client, (text) => this.log.write(text));
    this.outputImages.push({
      registry: tag.registry,
      repository: tag.repository,
      tag: tag.reference,
      digest,
    });
  }

  /** A `cmd` step: runs an image (built in this run, or pulled) in the sandbox. */
  private async command(
    name: string,
    args: string[],
    env: string[],
    workingDirectory?: string,
  ): Promise<void> {
    const tag = this.imageName(name);
    let root: string;
    let config: Record<string, unknown>;
    const local = this.built.get(formatImageName(tag));
    if (local) {
      root = local.root;
      config = local.config.config;
    } else {
      root = await mkdtemp(join(this.workDir, 'cmd-'));
      const client = await this.registries.client(tag.registry);
      const resolved = await client.resolveImage(tag.repository, tag.reference);
      this.log.line(`Pulled ${formatImageName(tag)} (${resolved.manifest.digest})`);
      await unpackImage({ image: name, client, repository: tag.repository, resolved }, root);
      config = (resolved.config.config as Record<string, unknown> | undefined) ?? {};
    }
    const entrypoint = Array.isArray(config.Entrypoint) ? (config.Entrypoint as string[]) : [];
    const cmd = Array.isArray(config.Cmd) ? (config.Cmd as string[]) : [];
    const argv = [...entrypoint, ...(args.length > 0 ? args : cmd)];
    if (argv.length === 0) throw new RunFailure(`the image ${name} has no command to run`);
    const imageEnv = Array.isArray(config.Env) ? (config.Env as string[]) : [];
    const result = await runInSandbox({
      root,
      argv,
      env: [...imageEnv, ...env],
      workingDir:
        workingDirectory ?? (typeof config.WorkingDir === 'string' ? config.WorkingDir : '/'),
      ...(typeof config.User === 'string' && config.User ? { user: config.User } : {}),
      timeoutMs: this.stepTimeoutMs,
      onOutput: (chunk) => this.log.write(chunk.toString('utf8')),
      signal: this.signal,
    });
    if (result.cancelled) throw new RunFailure('the run was canceled');
    if (result.exitCode !== 0)
      throw new RunFailure(`failed during run, err: exit status ${result.exitCode}`);
  }
}
