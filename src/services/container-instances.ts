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
import { applyLayer, runInSandbox } from '../runtime/index.js';
import type { ServiceEnvironment } from './environment.js';
import { externalEndpoint } from './image-import.js';
import {
  RegistryClient,
  RegistryClientError,
  type RegistryCredential,
  type ResolvedImage,
} from './registry-client.js';

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

/** An image the group's credential cannot read: ACI's InaccessibleImage. */
export class InaccessibleImageError extends Error {
  override name = 'InaccessibleImageError';
  constructor(
    readonly image: string,
    /** The registry's own answer, for the events and the log. */
    readonly registryError: RegistryClientError,
  ) {
    super(`image ${image} is not accessible: ${registryError.describe()}`);
  }
}

export interface ContainerHostOptions {
  environment: ServiceEnvironment;
  /** A managed-identity token of `resourceId` for the registry audience. */
  identityToken: (resourceId: string, identity: string) => Promise<string>;
  /** The login server of the platform registry served at `host`, if it is one. */
  platformRegistry: (host: string) => Promise<string | undefined>;
  /** Where root filesystems are unpacked. */
  workDirectory: string;
  timeoutMs: number;
}

interface PulledImage {
  client: RegistryClient;
  repository: string;
  resolved: ResolvedImage;
}

/** Logs kept per container; older output is dropped beyond this. */
const LOG_LIMIT = 1024 * 1024;

export class ContainerHost {
  private readonly running = new Map<string, AbortController>();
  private readonly logs = new Map<string, string>();

  constructor(private readonly options: ContainerHostOptions) {}

  /**
   * Resolves every container's image with the group's credentials (manifest and config, all
   * verified): the deployment's first step, answered before the group is accepted.
   */
  async pull(group: ContainerGroupSpec): Promise<Map<string, PulledImage>> {
    const pulled = new Map<string, PulledImage>();
    for (const container of group.containers) {
      const { host, repository, reference } = parseImage(container.image);
      const client = await this.clientFor(group, host);
      try {
        const resolved = await client.resolveImage(repository, reference);
        pulled.set(container.name, { client, repository, resolved });
      } catch (error) {
        if (error instanceof RegistryClientError)
          throw new InaccessibleImageError(container.image, error);
        throw error;
      }
    }
    return pulled;
  }

  /** Runs a pulled group in the background; `report` receives every change of its view. */
  start(
    group: ContainerGroupSpec,
    pulled: Map<string, PulledImage>,
    report: (view: GroupView) => Promise<void>,
  ): void {
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

  private async clientFor(group: ContainerGroupSpec, host: string): Promise<RegistryClient> {
    const entry = group.credentials.find((c) => c.server.toLowerCase() === host.toLowerCase());
    let credential: RegistryCredential = { kind: 'anonymous' };
    if (entry?.identity) {
      const identity = entry.identity;
      credential = {
        kind: 'identity',
        token: () => this.options.identityToken(group.id, identity),
      };
    } else if (entry?.username !== undefined) {
      credential = { kind: 'basic', username: entry.username, password: entry.password ?? '' };
    }
    const loginServer = await this.options.platformRegistry(host);
    if (loginServer) return this.options.environment.clientFor(loginServer, credential);
    const endpoint = externalEndpoint(host);
    return new RegistryClient({
      endpoint,
      loginServer: new URL(endpoint).host,
      credential,
      ...(this.options.environment.sourceAddress
        ? { localAddress: this.options.environment.sourceAddress }
        : {}),
    });
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
    const config = (image.resolved.config.config ?? {}) as {
      Env?: string[];
      Entrypoint?: string[] | null;
      Cmd?: string[] | null;
      WorkingDir?: string;
      User?: string;
    };
    const argv = container.command ?? [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    const env = [
      ...(config.Env ?? []).filter((e) => !(e.split('=')[0]! in container.environment)),
      ...Object.entries(container.environment).map(([k, v]) => `${k}=${v}`),
    ];
    for (;;) {
      const root = join(directory, container.name);
      try {
        await rm(root, { recursive: true, force: true });
        await mkdir(root, { recursive: true });
        event('Pulling', `pulling image "${container.image}"`);
        await report(view);
        for (const layer of image.resolved.layers) {
          await applyLayer(root, await image.client.openBlob(image.repository, layer.digest));
        }
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

/** `host/repo:tag` or `host/repo@digest`; no host means Docker Hub, as Docker reads it. */
export function parseImage(image: string): { host: string; repository: string; reference: string } {
  const slash = image.indexOf('/');
  const first = slash > 0 ? image.slice(0, slash) : '';
  const hasHost = first.includes('.') || first.includes(':') || first === 'localhost';
  const host = hasHost ? first : 'docker.io';
  let rest = hasHost ? image.slice(slash + 1) : image;
  if (!hasHost && !rest.includes('/')) rest = `library/${rest}`;
  const at = rest.indexOf('@');
  if (at >= 0) return { host, repository: rest.slice(0, at), reference: rest.slice(at + 1) };
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/'))
    return { host, repository: rest.slice(0, colon), reference: rest.slice(colon + 1) };
  return { host, repository: rest, reference: 'latest' };
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
