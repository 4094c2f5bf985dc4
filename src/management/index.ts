export { ArmAuth } from './arm-auth.js';
export { ArmError, sendArmError } from './arm-errors.js';
export { AsyncOperations, type AsyncOperation } from './async-operations.js';
export type { ManagementContext } from './context.js';
export { managementPlugin, type ManagementPluginOptions } from './management-plugin.js';
export { defaultRegistryProperties, REGISTRY_TYPE, registryToArm } from './registry-resource.js';
export { resourceGroupId, resourceId, parseResourceId } from './resource-id.js';
export { RESOURCE_GROUP_TYPE } from './routes/subscriptions.js';
export { applyIdentity, USER_ASSIGNED_IDENTITY_TYPE } from './managed-identity.js';
export {
  PRIVATE_ENDPOINT_TYPE,
  VNET_TYPE,
  type PrivateEndpointConnection,
} from './routes/networking.js';
