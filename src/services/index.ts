/**
 * @module services
 * The trusted services. Each reaches registries ONLY as a client of the public data plane
 * (`ServiceEnvironment.clientFor`), with its own credential, from the platform's own source
 * address: exactly the path that the network rules and the trusted-services bypass govern.
 */
export { ServiceEnvironment } from './environment.js';
export {
  DEFAULT_PLATFORM,
  parseChallenge,
  readAll,
  RegistryClient,
  RegistryClientError,
  type FetchedManifest,
  type RegistryClientOptions,
  type RegistryCredential,
  type ResolvedImage,
} from './registry-client.js';
