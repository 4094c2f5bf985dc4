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
  ) {}

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
