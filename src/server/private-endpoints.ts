/**
 * @module server/private-endpoints
 * One data-plane listener per private endpoint, bound to the endpoint's private address, serving
 * only its registry through the private door. `sync` binds new endpoints and closes removed or
 * changed ones. It runs at start, at once on the replica that receives a networking change, and
 * on every replica when the access generation moves (server/server.ts): the generation moves with
 * every ARM resource (private endpoints, virtual networks) and every registry created or deleted,
 * which is all a listener depends on. A connection's approval state is not: the private door
 * reads it per request.
 */
import type { FastifyInstance } from 'fastify';
import { PRIVATE_ENDPOINT_TYPE } from '../management/index.js';
import { IpRuleSet, type Door } from '../network/index.js';
import type { Platform } from './platform.js';

interface TlsOptions {
  key: string;
  cert: string;
}

type BuildApp = (
  platform: Platform,
  tls: TlsOptions | undefined,
  door: Door,
) => Promise<FastifyInstance>;

interface Running {
  key: string;
  app: FastifyInstance;
}

export class PrivateEndpointListeners {
  private readonly running = new Map<string, Running>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly platform: Platform,
    private readonly port: number,
    private readonly tls: TlsOptions | undefined,
    private readonly build: BuildApp,
  ) {}

  /**
   * Brings the listeners in line with the private endpoints that exist now (serialized). False
   * when it failed (logged), so the caller tries again; an address this host does not have is
   * not a failure (logged, and tried again at the next change).
   */
  sync(): Promise<boolean> {
    const synced = this.queue
      .then(() => this.syncNow())
      .then(
        () => true,
        (error: unknown) => {
          this.platform.logger.error({ err: error }, 'private endpoint listeners failed to sync');
          return false;
        },
      );
    this.queue = synced.then(() => undefined);
    return synced;
  }

  private async desired(): Promise<
    Map<string, { key: string; door: Extract<Door, { kind: 'private' }> }>
  > {
    const { controlPlane, metadata } = this.platform;
    const result = new Map<string, { key: string; door: Extract<Door, { kind: 'private' }> }>();
    for (const subscription of await controlPlane.listSubscriptions()) {
      for (const endpoint of await controlPlane.listResources({
        subscriptionId: subscription.id,
        type: PRIVATE_ENDPOINT_TYPE,
      })) {
        const properties = endpoint.properties as {
          privateIPAddress?: string;
          subnet?: { id?: string };
          privateLinkServiceConnections?: Array<{ properties: { privateLinkServiceId: string } }>;
          manualPrivateLinkServiceConnections?: Array<{
            properties: { privateLinkServiceId: string };
          }>;
        };
        const link = (properties.privateLinkServiceConnections ??
          properties.manualPrivateLinkServiceConnections ??
          [])[0];
        const registryName = link?.properties.privateLinkServiceId.split('/').at(-1);
        const registry = registryName ? await metadata.getRegistryByName(registryName) : undefined;
        const vnet = await controlPlane.getResource(
          String(properties.subnet?.id ?? '').replace(/\/subnets\/[^/]+$/i, ''),
        );
        const prefixes = (
          (vnet?.properties.addressSpace as { addressPrefixes?: string[] } | undefined)
            ?.addressPrefixes ?? []
        ).slice();
        if (!registry || !properties.privateIPAddress || prefixes.length === 0) continue;
        const key = [properties.privateIPAddress, registry.id, prefixes.join(',')].join('|');
        result.set(endpoint.id.toLowerCase(), {
          key,
          door: {
            kind: 'private',
            endpointId: endpoint.id,
            endpointName: endpoint.name,
            registryId: registry.id,
            privateIp: properties.privateIPAddress,
            network: new IpRuleSet(prefixes),
            addressPrefixes: prefixes,
          },
        });
      }
    }
    return result;
  }

  private async syncNow(): Promise<void> {
    if (this.closed) return;
    const desired = await this.desired();
    for (const [id, running] of this.running) {
      if (desired.get(id)?.key !== running.key) {
        await running.app.close();
        this.running.delete(id);
      }
    }
    for (const [id, { key, door }] of desired) {
      if (this.running.has(id)) continue;
      const app = await this.build(this.platform, this.tls, door);
      try {
        await app.listen({ host: door.privateIp, port: this.port });
        this.running.set(id, { key, app });
        this.platform.logger.info(
          { endpoint: door.endpointName, address: `${door.privateIp}:${this.port}` },
          'private endpoint listening',
        );
      } catch (error) {
        // The address must exist on this machine (an interface in the virtual network); with
        // replicas on several hosts, the others log this for every endpoint they do not host.
        this.platform.logger.error(
          {
            err: error,
            endpoint: door.endpointName,
            address: `${door.privateIp}:${this.port}`,
            reason: (error as NodeJS.ErrnoException).code ?? String(error),
          },
          'private endpoint could not listen on this replica',
        );
        await app.close();
      }
    }
  }

  /** Addresses currently served, for tests and diagnostics. */
  addresses(): string[] {
    return [...this.running.values()].map((r) => {
      const address = r.app.server.address();
      return address && typeof address === 'object' ? `${address.address}:${address.port}` : '';
    });
  }

  async close(): Promise<void> {
    // A sync queued after this (a networking change still in flight) binds nothing.
    this.closed = true;
    await this.queue;
    for (const running of this.running.values()) await running.app.close();
    this.running.clear();
  }
}
