export { dataPlanePlugin, type DataPlaneOptions } from './data-plane.js';
export { HostResolver } from './host-resolver.js';
export { DEFAULT_LIMITS, OciRegistry, type RegistryLimits } from './oci-registry.js';
export { PushEvents, type ManifestPushed, type PushListener } from './push-events.js';
export { sendRegistryError } from './errors.js';
export { tokenEndpoints, type TokenEndpointOptions } from './token-endpoints.js';
export { realmBase } from './request-facts.js';
export { rateLimiting, type RateLimitOptions } from './rate-limit.js';
export {
  GarbageCollector,
  retentionDays,
  scheduleCollection,
  type CollectionReport,
} from './garbage-collector.js';
