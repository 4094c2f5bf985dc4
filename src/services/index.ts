/**
 * @module services
 * The trusted services. Each reaches registries ONLY as a client of the public data plane
 * (`ServiceEnvironment.clientFor`), with its own credential, from the platform's own source
 * address: exactly the path that the network rules and the trusted-services bypass govern.
 */
export { ServiceEnvironment } from './environment.js';
export {
  defaultInstanceName,
  WORK_LEASE_MS,
  WorkLeases,
  type WorkClaim,
  type WorkLeasesOptions,
} from './work-leases.js';
export {
  MlJobRunner,
  type MlJobRunnerOptions,
  type MlJobSpec,
  type MlJobStatus,
  type MlJobView,
} from './ml-jobs.js';
export {
  ImagePuller,
  ImagePullError,
  mergeEnvironment,
  runConfigOf,
  unpackImage,
  type ImageRunConfig,
  type PulledImage,
} from './image-pull.js';
export {
  ContainerHost,
  type ContainerEvent,
  type ContainerGroupSpec,
  type ContainerHostOptions,
  type ContainerSpec,
  type ContainerView,
  type GroupView,
  type ImageRegistryCredential,
} from './container-instances.js';
export {
  externalEndpoint,
  ImageImporter,
  ImportError,
  splitImage,
  type ImportPlan,
  type ImportProgress,
  type ImportResult,
  type ImportSource,
} from './image-import.js';
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
