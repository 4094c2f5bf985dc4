/**
 * @module registry/host-resolver
 * Chooses the registry a data-plane request is for, from its Host header: a registry's login
 * server (`<name>.<suffix>`) or one of its host aliases (e.g. `127.0.0.1:5000`).
 */
import { RegistryError } from '../core/errors.js';
import type { MetadataStore, RegistryRecord } from '../metadata/index.js';
import type { Door } from '../network/index.js';

export class HostResolver {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly loginServerSuffix: string,
  ) {}

  /**
   * The registry a request is for: a private endpoint's listener serves its one registry,
   * whatever the Host header; the public endpoint chooses by Host.
   */
  async forDoor(door: Door, host: string | undefined): Promise<RegistryRecord> {
    if (door.kind === 'public') return this.resolve(host);
    const registry = await this.metadata.getRegistryById(door.registryId);
    if (!registry)
      throw new RegistryError(
        'REGISTRY_UNKNOWN',
        'the registry of this private endpoint no longer exists',
      );
    return registry;
  }

  /**
   * Registry for `host` (Host header, any case, maybe with a port). Exact host:port first, then
   * the bare host name, so `myregistry.<suffix>:5000` finds `myregistry.<suffix>`.
   */
  async resolve(host: string | undefined): Promise<RegistryRecord> {
    const normalized = (host ?? '').trim().toLowerCase();
    if (normalized.length > 0 && normalized.length <= 300) {
      const exact = await this.metadata.getRegistryByHost(normalized);
      if (exact) return exact;
      const hostname = stripPort(normalized);
      if (hostname !== normalized) {
        const byName = await this.metadata.getRegistryByHost(hostname);
        if (byName) return byName;
      }
      const suffix = `.${this.loginServerSuffix.toLowerCase()}`;
      if (hostname.endsWith(suffix)) {
        const named = await this.metadata.getRegistryByName(hostname.slice(0, -suffix.length));
        if (named) return named;
      }
    }
    throw new RegistryError(
      'REGISTRY_UNKNOWN',
      `no registry is served at host '${normalized.slice(0, 300)}'`,
      { detail: { host: normalized.slice(0, 300) } },
    );
  }
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close > 0 ? host.slice(0, close + 1) : host;
  }
  const colon = host.lastIndexOf(':');
  return colon > 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}
