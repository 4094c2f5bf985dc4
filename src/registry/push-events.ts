/**
 * @module registry/push-events
 * The data plane's one outward hook: listeners told after a manifest (image, index or
 * artifact) is stored. The registry knows nothing of who listens (the scanner queues scans
 * from it), and a listener can neither delay nor fail a push: it is called after the write,
 * and its errors are logged by the caller's logger, never returned to the client.
 */
import type { RegistryRecord } from '../metadata/index.js';

export interface ManifestPushed {
  registry: RegistryRecord;
  repository: string;
  digest: string;
  mediaType: string;
  artifactType?: string;
  subject?: string;
  tags: string[];
}

export type PushListener = (event: ManifestPushed) => void;

export class PushEvents {
  private readonly listeners: PushListener[] = [];

  /** Registers a listener; returns a function that removes it. */
  on(listener: PushListener): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  emit(event: ManifestPushed, onError: (error: unknown) => void = () => {}): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        onError(error);
      }
    }
  }
}
