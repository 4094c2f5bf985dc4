/**
 * @module runtime
 * The container runtime shared by task steps, container instances and ML jobs: unpack an
 * image's layers into a root filesystem, run a command in a bubblewrap sandbox over it, and
 * capture a step's filesystem changes as a new layer.
 */
export { applyLayer, applyLayerFile, entryPath, LayerError } from './unpack.js';
export { resolveInRoot, ScopedPathError } from './scoped-path.js';
export {
  adoptNewPaths,
  compare,
  snapshot,
  writeLayer,
  type BuiltLayer,
  type LayerChanges,
  type Snapshot,
} from './layer-diff.js';
export {
  resolveUser,
  runInSandbox,
  sandboxAvailable,
  SandboxError,
  type SandboxCommand,
  type SandboxResult,
} from './sandbox.js';
