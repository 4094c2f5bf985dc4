/**
 * @module registry/locks
 * ACR's repository locks (changeableAttributes) on repositories, manifests and tags:
 * `readEnabled` false refuses pulls, `writeEnabled` false refuses pushes, overwrites and
 * deletes, `deleteEnabled` false refuses deletes, `listEnabled` false hides from listings
 * (applied by the metadata queries). Locks apply to every principal, owners included.
 */
import { RegistryError } from '../core/errors.js';
import type { ChangeableAttributes, MetadataStore, RegistryRecord } from '../metadata/index.js';

export const LOCKED_MESSAGE = 'The operation is disallowed on this registry, repository or image.';

export type LockedOperation = 'read' | 'write' | 'delete';

function allows(attributes: ChangeableAttributes | undefined, operation: LockedOperation): boolean {
  if (!attributes) return true;
  if (operation === 'read') return attributes.readEnabled;
  if (operation === 'write') return attributes.writeEnabled;
  return attributes.deleteEnabled && attributes.writeEnabled;
}

export class Locks {
  constructor(private readonly metadata: MetadataStore) {}

  /**
   * Refuses `operation` when the repository, or the named manifest or tag, is locked against it.
   * Missing targets are not locked (the operation itself reports them as unknown).
   */
  async check(
    registry: RegistryRecord,
    repository: string,
    operation: LockedOperation,
    targets: { digest?: string; tags?: string[] } = {},
  ): Promise<void> {
    const checks = [this.metadata.getAttributes(registry.id, repository, { kind: 'repository' })];
    if (targets.digest) {
      checks.push(
        this.metadata.getAttributes(registry.id, repository, {
          kind: 'manifest',
          digest: targets.digest,
        }),
      );
    }
    for (const tag of targets.tags ?? []) {
      checks.push(this.metadata.getAttributes(registry.id, repository, { kind: 'tag', tag }));
    }
    for (const attributes of await Promise.all(checks)) {
      if (!allows(attributes, operation)) {
        throw new RegistryError('DENIED', LOCKED_MESSAGE, { status: 405 });
      }
    }
  }
}
