/**
 * @module services/tasks
 * Registry tasks: the runner (`TaskService`), the daemonless Dockerfile builder and ACR's
 * multi-step task files.
 */
export {
  ACTIVE_RUN_STATUSES,
  REPLICA_STOPPED,
  RUN_TYPE,
  TaskService,
  type RunRequest,
  type RunStep,
  type SourceArchives,
  type TaskServiceDependencies,
} from './task-service.js';
export type { CustomRegistryCredential, RunCredentials } from './run-registries.js';
export { parseDockerfile, DockerfileError } from './dockerfile.js';
export { parseTaskFile, TaskFileError } from './task-file.js';
