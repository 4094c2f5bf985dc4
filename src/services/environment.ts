/**
 * @module services/environment
 * Where the platform's services find the registries: the public data endpoint they connect to
 * (known once the data listener is bound), the source address they connect from, and the CA
 * that signs the endpoint's certificate when it serves TLS. Every service builds its
 * RegistryClient from this, so none of them can take a private path into a registry.
 */
import { RegistryClient, type RegistryCredential } from './registry-client.js';

export class ServiceEnvironment {
  /** e.g. `http://127.0.0.1:5000`; empty until the data listener is bound. */
  dataEndpoint = '';
  /** PEM of the CA for an HTTPS data endpoint. */
  ca?: string;

  constructor(
    /** `serviceSourceAddress`: empty lets the operating system choose. */
    readonly sourceAddress: string,
    /** Whether a login server (or host alias) names one of this platform's registries. */
    private readonly servesRegistry: (loginServer: string) => Promise<boolean>,
  ) {}

  /**
   * A client for any registry: this platform's through its public data endpoint; any other
   * (CNCF Distribution, another Breakwater) directly at its host, over HTTPS, or plain HTTP for
   * loopback hosts as Docker allows for "insecure" local registries.
   */
  async clientForAny(loginServer: string, credential: RegistryCredential): Promise<RegistryClient> {
    if (await this.servesRegistry(loginServer)) return this.clientFor(loginServer, credential);
    const host = loginServer.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const loopback = host === 'localhost' || host.startsWith('127.') || host === '::1';
    return new RegistryClient({
      endpoint: `${loopback ? 'http' : 'https'}://${loginServer}`,
      loginServer,
      credential,
      ...(this.sourceAddress && loopback === isLoopback(this.sourceAddress)
        ? { localAddress: this.sourceAddress }
        : {}),
      ...(this.ca ? { ca: this.ca } : {}),
    });
  }

  /** A client for the registry at `loginServer`, through the public data endpoint. */
  clientFor(loginServer: string, credential: RegistryCredential): RegistryClient {
    if (!this.dataEndpoint) throw new Error('the data endpoint is not listening yet');
    return new RegistryClient({
      endpoint: this.dataEndpoint,
      loginServer,
      credential,
      ...(this.sourceAddress ? { localAddress: this.sourceAddress } : {}),
      ...(this.ca ? { ca: this.ca } : {}),
    });
  }
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}
