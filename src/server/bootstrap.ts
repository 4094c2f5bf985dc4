/**
 * @module server/bootstrap
 * What a fresh data directory gets: the `myregistry` registry, answering on the listener's own
 * address so `skopeo copy ... docker://127.0.0.1:5000/hello:v1` works out of the box.
 */
import type { Logger } from 'pino';
import type { MetadataStore, RegistryRecord } from '../metadata/index.js';

export const DEFAULT_REGISTRY_NAME = 'myregistry';

/**
 * Host headers that clients use for a listener bound to `host:port`: the address itself, and
 * `localhost:port` for loopback or wildcard binds.
 */
export function listenerHosts(host: string, port: number): string[] {
  const bracketed = host.includes(':') ? `[${host}]` : host;
  const hosts = [`${bracketed}:${port}`];
  if (['127.0.0.1', '::1', '0.0.0.0', '::', 'localhost'].includes(host)) {
    hosts.push(`localhost:${port}`, `127.0.0.1:${port}`);
  }
  return [...new Set(hosts)];
}

/**
 * Creates the default registry on a fresh data directory; on later starts makes sure it still
 * answers on the listener's address (the port may have changed), unless another registry has
 * claimed that host.
 */
export async function ensureDefaultRegistry(
  metadata: MetadataStore,
  loginServerSuffix: string,
  hosts: string[],
  logger: Logger,
): Promise<RegistryRecord | undefined> {
  const existing = await metadata.listRegistries();
  if (existing.length === 0) {
    const created = await metadata.createRegistry({
      name: DEFAULT_REGISTRY_NAME,
      loginServer: `${DEFAULT_REGISTRY_NAME}.${loginServerSuffix}`,
      aliases: hosts,
    });
    logger.info(
      { registry: created.name, loginServer: created.loginServer, aliases: created.aliases },
      'created the default registry',
    );
    return created;
  }
  const registry = existing.find((r) => r.name === DEFAULT_REGISTRY_NAME);
  if (!registry) return undefined;
  for (const host of hosts) {
    if (!(await metadata.addRegistryHost(registry.id, host))) {
      logger.warn({ host }, 'listener address belongs to another registry; not aliased');
    }
  }
  return registry;
}
