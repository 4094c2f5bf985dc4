/**
 * @module services/tasks/run-registries
 * The registries one run may reach, and with what: the task's `credentials.customRegistries`
 * (a managed identity of the task, `[system]` or a user-assigned client id, or a username and
 * password), and for its own registry, while `sourceRegistry.loginMode` is `Default`, the
 * run's implicit token (which never counts as a trusted service). Any other registry is
 * reached anonymously. Credentialed registries are logged in to at the start of the run, as
 * ACR does, so a refused network or a bad credential fails the run with the registry's words.
 */
import type { ServiceEnvironment } from '../environment.js';
import type { RegistryClient, RegistryCredential } from '../registry-client.js';
import type { RegistryAccess } from './image-builder.js';

export interface CustomRegistryCredential {
  /** `[system]`, or a user-assigned identity's client id. */
  identity?: string;
  username?: string;
  password?: string;
}

export interface RunCredentials {
  loginMode: 'Default' | 'None';
  /** By login server (lower case). */
  customRegistries: Record<string, CustomRegistryCredential>;
}

export interface RunRegistriesOptions {
  environment: ServiceEnvironment;
  credentials: RunCredentials;
  ownLoginServer: string;
  runResourceId: string;
  /** The task holding the identities; quick runs have none. */
  taskResourceId?: string;
  identityToken: (resourceId: string, identity: string) => Promise<string>;
  runToken: (runResourceId: string, loginServer: string) => Promise<string>;
  log: (text: string) => void;
}

export class RunRegistries implements RegistryAccess {
  private readonly clients = new Map<string, Promise<RegistryClient>>();

  constructor(private readonly options: RunRegistriesOptions) {}

  /** Logs in to every registry the run holds a credential for. */
  async loginAll(): Promise<void> {
    const servers = new Set(Object.keys(this.options.credentials.customRegistries));
    if (this.options.credentials.loginMode === 'Default')
      servers.add(this.options.ownLoginServer.toLowerCase());
    for (const server of servers) await this.client(server);
  }

  client(loginServer: string): Promise<RegistryClient> {
    const key = loginServer.toLowerCase();
    let client = this.clients.get(key);
    if (!client) {
      client = this.open(key);
      this.clients.set(key, client);
    }
    return client;
  }

  private async open(loginServer: string): Promise<RegistryClient> {
    const credential = this.credentialFor(loginServer);
    const client = await this.options.environment.clientForAny(loginServer, credential);
    if (credential.kind !== 'anonymous') {
      this.options.log(`Logging in to registry: ${loginServer}\n`);
      await client.login();
      this.options.log(`Successfully logged into ${loginServer}\n`);
    }
    return client;
  }

  private credentialFor(loginServer: string): RegistryCredential {
    const custom = this.options.credentials.customRegistries[loginServer];
    if (custom?.identity) {
      const task = this.options.taskResourceId;
      if (!task) throw new Error(`a quick run has no identity to log in to ${loginServer} with`);
      const identity = custom.identity;
      return { kind: 'identity', token: () => this.options.identityToken(task, identity) };
    }
    if (custom?.username !== undefined && custom.password !== undefined) {
      return { kind: 'basic', username: custom.username, password: custom.password };
    }
    if (
      loginServer === this.options.ownLoginServer.toLowerCase() &&
      this.options.credentials.loginMode === 'Default'
    ) {
      return {
        kind: 'refresh',
        token: () => this.options.runToken(this.options.runResourceId, loginServer),
      };
    }
    return { kind: 'anonymous' };
  }
}
