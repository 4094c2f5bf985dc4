/**
 * @module management/managed-identity
 * The ARM `identity` property of any resource that supports managed identities: validates the
 * requested type, creates (or removes) the principal behind a system-assigned identity, and
 * resolves user-assigned identities to their principal and client ids, as ARM shows them.
 */
import { ArmError } from './arm-errors.js';
import type { ManagementContext } from './context.js';
import { parseResourceId } from './resource-id.js';
import { isObject } from '../core/json.js';

export const USER_ASSIGNED_IDENTITY_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';

const TYPES = ['None', 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned'] as const;

/**
 * Applies a requested `identity` to the resource `resourceId` and returns the identity as ARM
 * shows it (null for None). Removing the system-assigned identity deletes its principal, so
 * tokens it was issued stop working at once.
 */
export async function applyIdentity(
  context: ManagementContext,
  resourceId: string,
  current: Record<string, unknown> | null,
  requested: unknown,
): Promise<Record<string, unknown> | null> {
  if (requested === null) requested = { type: 'None' };
  if (!isObject(requested))
    throw new ArmError(400, 'InvalidIdentity', "The 'identity' property must be an object.");
  const rawType = String(requested.type ?? '').replace(/\s*,\s*/g, ', ');
  const type = TYPES.find((t) => t.toLowerCase() === rawType.toLowerCase());
  if (!type) {
    throw new ArmError(
      400,
      'InvalidIdentityType',
      `The identity type '${String(requested.type)}' is not valid. Allowed values: ${TYPES.join(', ')}.`,
    );
  }
  const parsed = parseResourceId(resourceId);
  const subscription = parsed
    ? await context.controlPlane.getSubscription(parsed.subscriptionId)
    : undefined;
  if (!subscription)
    throw new ArmError(404, 'SubscriptionNotFound', 'The subscription could not be found.');

  const result: Record<string, unknown> = { type };
  if (type.includes('SystemAssigned')) {
    const principal = await context.identity.ensureSystemAssignedIdentity(
      subscription.tenantId,
      resourceId,
      resourceId.split('/').at(-1)!,
    );
    result.principalId = principal.objectId;
    result.tenantId = principal.tenantId;
  } else {
    await context.identity.removeIdentityOf(resourceId);
  }
  if (type.includes('UserAssigned')) {
    const wanted = isObject(requested.userAssignedIdentities)
      ? requested.userAssignedIdentities
      : isObject(current?.userAssignedIdentities)
        ? (current!.userAssignedIdentities as Record<string, unknown>)
        : {};
    const attached: Record<string, { principalId: string; clientId: string }> = {};
    for (const [identityId, value] of Object.entries(wanted)) {
      if (value === null) continue; // ARM: null detaches one identity
      const resource = await context.controlPlane.getResource(identityId);
      if (!resource || resource.type.toLowerCase() !== USER_ASSIGNED_IDENTITY_TYPE.toLowerCase()) {
        throw new ArmError(
          400,
          'InvalidUserAssignedIdentity',
          `The user-assigned identity '${identityId}' was not found.`,
        );
      }
      attached[resource.id] = {
        principalId: String(resource.properties.principalId),
        clientId: String(resource.properties.clientId),
      };
    }
    if (Object.keys(attached).length === 0) {
      throw new ArmError(
        400,
        'InvalidIdentity',
        "Identity type 'UserAssigned' needs at least one entry in 'userAssignedIdentities'.",
      );
    }
    result.userAssignedIdentities = attached;
  }
  return type === 'None' ? null : result;
}

/**
 * The identity a resource has after a PUT or PATCH: the requested one applied when the body
 * names one, else the stored one kept.
 */
export async function identityAfterWrite(
  context: ManagementContext,
  resourceId: string,
  stored: Record<string, unknown> | null | undefined,
  requested: unknown,
): Promise<Record<string, unknown> | null> {
  return requested !== undefined
    ? applyIdentity(context, resourceId, stored ?? null, requested)
    : (stored ?? null);
}
