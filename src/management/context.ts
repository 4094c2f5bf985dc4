/**
 * @module management/context
 * What the management API's handlers share: the stores, the identity service, the caller check,
 * and the settings that shape resources (login server suffix, location).
 */
import type { AccessDecider } from '../access/index.js';
import type { IdentityService, Sealer } from '../identity/index.js';
import type {
  AccessLogStore,
  ControlPlaneStore,
  MetadataStore,
  RunLogStore,
  ScannerStore,
} from '../metadata/index.js';
import type { VulnerabilityScanner } from '../services/scanner/index.js';
import type {
  ContainerHost,
  ImageImporter,
  ImagePuller,
  MlJobRunner,
  RegistryCredential,
  WorkLeases,
} from '../services/index.js';
import type { TaskService } from '../services/tasks/index.js';
import type { ArmAuth } from './arm-auth.js';
import type { AsyncOperations } from './async-operations.js';

export interface ManagementContext {
  metadata: MetadataStore;
  controlPlane: ControlPlaneStore;
  identity: IdentityService;
  auth: ArmAuth;
  sealer: Sealer;
  loginServerSuffix: string;
  /** Location given to resources created without one. */
  defaultLocation: string;
  /** Public URL of the management listener (ARM and the identity service). */
  managementUrl: string;
  /** The access decision, for `checkAccess` (explain uses the same code that decides). */
  decider: AccessDecider;
  accessLog: AccessLogStore;
  /** The vulnerability scanner and its results (scan results routes). */
  scanner?: VulnerabilityScanner;
  scannerStore?: ScannerStore;
  /** Long-running operations (import), polled through their status and result URLs. */
  operations: AsyncOperations;
  /** The import service (a first-party trusted service, a client of the data plane). */
  importer: ImageImporter;
  /** Runs container groups' containers (pulled with the group's credential, sandboxed). */
  containers: ContainerHost;
  /** Runs ML command jobs (pulled with the workspace's identity, sandboxed). */
  mlJobs: MlJobRunner;
  /** Image pulls for resources that only pull (web apps' containers), with their identity. */
  images: {
    puller: ImagePuller;
    identityCredential(resourceId: string, identity: string): RegistryCredential;
  };
  /** The task runner and the run logs it keeps (absent where no runner runs). */
  tasks?: TaskService;
  /** This replica's leases on long-running work (runs, ML jobs, container groups). */
  workLeases: WorkLeases;
  runLogs?: RunLogStore;
  /**
   * Called after virtual networks, private endpoints or their connections change, or registries
   * are deleted: this replica's private-endpoint listeners follow before the answer.
   */
  onNetworkChanged?: () => Promise<void>;
}
