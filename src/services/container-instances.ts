/**
 * @module services/container-instances
 * Container instances as a trusted service: a container group's images are pulled through the
 * data endpoint with the group's own credential (one of its managed identities, or a username
 * and password from `imageRegistryCredentials`), unpacked with the runtime and run in the
 * sandbox, under the group's restart policy. What happens is reported as ACI reports it:
 * container states (Waiting, Running, Terminated with an exit code), events (Pulling, Pulled,
 * Started, Failed) and logs.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runInSandbox } from '../runtime/index.js';
import type { ServiceEnvironment } from './environment.js';
import {
  ImagePuller,
  mergeEnvironment,
  runConfigOf,
  unpackImage,
  type PulledImage,
} from './image-pull.js';
import { parseImageName } from './image-name.js';
import { RegistryClientError, type RegistryCredential } from './registry-client.js';

export interface ContainerSpec {
  name: string;
  image: string;
  /** Replaces the image's entrypoint and command, as ACI's `command` does. */
  command?: string[];
  environment: Record<string, string>;
}

export interface ImageRegistryCredential {
  server: string;
  username?: string;
  password?: string;
  /** `[system]`, or a user-assigned identity's resource id (or client id). */
  identity?: string;
}

export interface ContainerGroupSpec {
  id: string;
  name: string;
  containers: ContainerSpec[];
  credentials: ImageRegistryCredential[];
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
}

export interface ContainerEvent {
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  name: string;
  message: string;
  type: 'Normal' | 'Warning';
}

export interface ContainerState {
  state: 'Waiting' | 'Running' | 'Terminated';
  startTime?: string;
  finishTime?: string;
  exitCode?: number;
  detailStatus: string;
}

export interface ContainerView {
  restartCount: number;
  currentState: ContainerState;
  previousState?: ContainerState;
  events: ContainerEvent[];
}

/** What a group reports as it runs; the host calls `report` after every change. */
export interface GroupView {
  state: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Stopped';
  containers: Record<string, ContainerView>;
}

export interface ContainerHostOptions {
  environment: ServiceEnvironment;
  /** A managed-identity token of `resourceId` for the registry audience. */
  identityToken: (resourceId: string, identity: string) => Promise<string>;
  /** Where root filesystems are unpacked. */
  workDirectory: string;
  timeoutMs: number;
}

/** Logs kept per container; older output is dropped beyond this. */
const LOG_LIMIT = 1024 * 1024;

export class ContainerHost {
  private readonly running = new Map<string, AbortController>();
  private readonly logs = new Map<string, string>();

  private readonly puller: ImagePuller;

  constructor(private readonly options: ContainerHostOptions) {
    this.puller = new ImagePuller(options.environment);
  }

  /**
   * Resolves every container's image with the group's credentials (manifest and config, all
   * verified): the deployment's first step, answered before the group is accepted.
   */
  async pull(group: ContainerGroupSpec): Promise<Map<string, PulledImage>> {
    const pulled = new Map<string, PulledImage>();
    for (const container of group.containers) {
      const host = parseImageName(container.image).registry;
      pulled.set(
        container.name,
        await this.puller.resolve(container.image, this.credentialFor(group, host)),
      );
    }
    return pulled;
  }

  /**
   * Runs a pulled group in the background; `report` receives every change of its view. Returns
   * what stops this deployment only (a later deployment of the same group is left running).
   */
  start(
    group: ContainerGroupSpec,
    pulled: Map<string, PulledImage>,
    report: (view: GroupView) => Promise<void>,
  ): () => void {
    this.stop(group.id);
    const abort = new AbortController();
    this.running.set(group.id.toLowerCase(), abort);
    const view: GroupView = { state: 'Pending', containers: {} };
    for (const container of group.containers) {
      view.containers[container.name] = {
        restartCount: 0,
        currentState: { state: 'Waiting', detailStatus: '' },
        events: [],
      };
      this.logs.set(logKey(group.id, container.name), '');
    }
    const directory = join(this.options.workDirectory, groupKey(group.id));
    void Promise.all(
      group.containers.map((container) =>
        this.runContainer(
          group,
          container,
          pulled.get(container.name)!,
          view,
          directory,
          report,
          abort.signal,
        ),
      ),
    )
      .then(() => {
        if (abort.signal.aborted) return;
        const states = Object.values(view.containers).map((c) => c.currentState);
        view.state = states.every((s) => s.exitCode === 0) ? 'Succeeded' : 'Failed';
        return report(view);
      })
      .catch(() => undefined)
      .finally(() => {
        if (this.running.get(group.id.toLowerCase()) === abort)
          this.running.delete(group.id.toLowerCase());
        void rm(directory, { recursive: true, force: true });
      });
    return () => {
      if (this.running.get(group.id.toLowerCase()) === abort) this.stop(group.id);
    };
  }

  /** Kills a group's containers (delete, or a new deployment of the same group). */
  stop(groupId: string): void {
    this.running.get(groupId.toLowerCase())?.abort();
    this.running.delete(groupId.toLowerCase());
  }

  /** Forgets a deleted group's logs. */
  forget(groupId: string, containers: string[]): void {
    this.stop(groupId);
    for (const name of containers) this.logs.delete(logKey(groupId, name));
  }

  logsOf(groupId: string, container: string): string | undefined {
    return this.logs.get(logKey(groupId, container));
  }

  /** The group's credential for `host`: its identity, a username and password, or none. */
  private credentialFor(group: ContainerGroupSpec, host: string): RegistryCredential {
    const entry = group.credentials.find((c) => c.server.toLowerCase() === host.toLowerCase());
    if (entry?.identity) {
      const identity = entry.identity;
      return { kind: 'identity', token: () => this.options.identityToken(group.id, identity) };
    }
    if (entry?.username !== undefined) {
      return { kind: 'basic', username: entry.username, password: entry.password ?? '' };
    }
    return { kind: 'anonymous' };
  }

  /** Unpack, run, and restart as the policy says, until done or stopped. */
  private async runContainer(
    group: ContainerGroupSpec,
    container: ContainerSpec,
    image: PulledImage,
    view: GroupView,
    directory: string,
    report: (view: GroupView) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const mine = view.containers[container.name]!;
    const key = logKey(group.id, container.name);
    const event = (name: string, message: string, type: ContainerEvent['type'] = 'Normal') => {
      const now = new Date().toISOString();
      const last = mine.events.at(-1);
      if (last && last.name === name && last.message === message) {
        last.count += 1;
        last.lastTimestamp = now;
      } else {
        mine.events.push({
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          name,
          message,
          type,
        });
      }
    };
    const config = runConfigOf(image);
    const argv = container.command ?? [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    const env = mergeEnvironment(config.Env, container.environment);
    for (;;) {
      const root = join(directory, container.name);
      try {
        await rm(root, { recursive: true, force: true });
        await mkdir(root, { recursive: true });
        event('Pulling', `pulling image "${container.image}"`);
        await report(view);
        await unpackImage(image, root);
        event('Pulled', `Successfully pulled image "${container.image}"`);
      } catch (error) {
        event('Failed', `Failed to pull image "${container.image}": ${describe(error)}`, 'Warning');
        mine.currentState = {
          state: 'Terminated',
          finishTime: new Date().toISOString(),
          exitCode: -1,
          detailStatus: 'Error',
        };
        view.state = 'Failed';
        await report(view);
        return;
      }
      if (signal.aborted) return;
      mine.currentState = {
        state: 'Running',
        startTime: new Date().toISOString(),
        detailStatus: '',
      };
      if (view.state === 'Pending') view.state = 'Running';
      event('Started', 'Started container');
      await report(view);
      let exitCode: number;
      try {
        const result = await runInSandbox({
          root,
          argv,
          env,
          ...(config.WorkingDir ? { workingDir: config.WorkingDir } : {}),
          ...(config.User ? { user: config.User } : {}),
          timeoutMs: this.options.timeoutMs,
          signal,
          onOutput: (chunk) => {
            const text = (this.logs.get(key) ?? '') + chunk.toString('utf8');
            this.logs.set(key, text.length > LOG_LIMIT ? text.slice(-LOG_LIMIT) : text);
          },
        });
        exitCode = result.exitCode;
      } catch (error) {
        this.logs.set(key, `${this.logs.get(key) ?? ''}${describe(error)}\n`);
        exitCode = 127;
      }
      if (signal.aborted) return;
      mine.previousState = undefined;
      mine.currentState = {
        ...mine.currentState,
        state: 'Terminated',
        finishTime: new Date().toISOString(),
        exitCode,
        detailStatus: exitCode === 0 ? 'Completed' : 'Error',
      };
      const again =
        group.restartPolicy === 'Always' || (group.restartPolicy === 'OnFailure' && exitCode !== 0);
      if (!again) {
        await report(view);
        return;
      }
      event('Killing', 'Killing container with id: restarting by the restart policy');
      mine.previousState = mine.currentState;
      mine.restartCount += 1;
      await report(view);
      // A back-off, as ACI gives: a crashing container does not spin.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(1000 * mine.restartCount, 30_000)),
      );
      if (signal.aborted) return;
    }
  }
}

function groupKey(groupId: string): string {
  return createHash('sha256').update(groupId.toLowerCase()).digest('hex').slice(0, 16);
}

function logKey(groupId: string, container: string): string {
  return `${groupId.toLowerCase()}\n${container}`;
}

function describe(error: unknown): string {
  if (error instanceof RegistryClientError) return error.describe();
  return error instanceof Error ? error.message : String(error);
}
