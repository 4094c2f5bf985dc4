/**
 * @module rbac/roles
 * The built-in role definitions, with Azure's real ids, names and permission strings. Control-
 * plane `actions` authorize the management API; data-plane meaning is in `data-actions.ts`.
 */

export interface RolePermission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

export interface RoleDefinition {
  /** The role definition GUID (`name` in ARM). */
  id: string;
  roleName: string;
  description: string;
  permissions: RolePermission;
  /** Registry-wide ACR roles honoured only in LegacyRegistryPermissions mode. */
  legacyAcrRole?: boolean;
  /** Roles whose data actions accept ABAC repository conditions. */
  supportsRepositoryConditions?: boolean;
}

function role(
  id: string,
  roleName: string,
  description: string,
  permissions: Partial<RolePermission>,
  extra: Pick<RoleDefinition, 'legacyAcrRole' | 'supportsRepositoryConditions'> = {},
): RoleDefinition {
  return {
    id,
    roleName,
    description,
    permissions: {
      actions: [],
      notActions: [],
      dataActions: [],
      notDataActions: [],
      ...permissions,
    },
    ...extra,
  };
}

const ACR = 'Microsoft.ContainerRegistry/registries';

export const BUILT_IN_ROLES: readonly RoleDefinition[] = [
  role(
    '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
    'Owner',
    'Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.',
    { actions: ['*'] },
  ),
  role(
    'b24988ac-6180-42a0-ab88-20f7382dd24c',
    'Contributor',
    'Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.',
    {
      actions: ['*'],
      notActions: [
        'Microsoft.Authorization/*/Delete',
        'Microsoft.Authorization/*/Write',
        'Microsoft.Authorization/elevateAccess/Action',
        'Microsoft.Blueprint/blueprintAssignments/write',
        'Microsoft.Blueprint/blueprintAssignments/delete',
        'Microsoft.Compute/galleries/share/action',
      ],
    },
  ),
  role(
    'acdd72a7-3385-48ef-bd42-f606fba81ae7',
    'Reader',
    'View all resources, but does not allow you to make any changes.',
    { actions: ['*/read'] },
  ),
  role(
    '7f951dda-4ed3-4680-a7ca-43fe172d538d',
    'AcrPull',
    'acr pull',
    { actions: [`${ACR}/pull/read`] },
    { legacyAcrRole: true },
  ),
  role(
    '8311e382-0749-4cb8-b61a-304f252e45ec',
    'AcrPush',
    'acr push',
    { actions: [`${ACR}/pull/read`, `${ACR}/push/write`] },
    { legacyAcrRole: true },
  ),
  role(
    'c2f4ef07-c644-48eb-af81-4b1b4947fb11',
    'AcrDelete',
    'acr delete',
    { actions: [`${ACR}/artifacts/delete`] },
    { legacyAcrRole: true },
  ),
  role(
    '6cef56e8-d556-48e5-a04f-b8e64114680f',
    'AcrImageSigner',
    'acr image signer',
    { actions: [`${ACR}/sign/write`], dataActions: [`${ACR}/trustedCollections/write`] },
    { legacyAcrRole: true },
  ),
  role(
    'cdda3590-29a3-44f6-95f2-9f980659eb04',
    'AcrQuarantineReader',
    'acr quarantine data reader',
    { actions: [`${ACR}/quarantine/read`], dataActions: [`${ACR}/quarantinedArtifacts/read`] },
    { legacyAcrRole: true },
  ),
  role(
    'c8d4ff99-41c3-41a8-9f60-21dfdad59608',
    'AcrQuarantineWriter',
    'acr quarantine data writer',
    {
      actions: [`${ACR}/quarantine/read`, `${ACR}/quarantine/write`],
      dataActions: [`${ACR}/quarantinedArtifacts/read`, `${ACR}/quarantinedArtifacts/write`],
    },
    { legacyAcrRole: true },
  ),
  role(
    'b93aa761-3e63-49ed-ac28-beffa264f7ac',
    'Container Registry Repository Reader',
    'Allows for read access to Azure Container Registry repositories, but excluding catalog listing.',
    {
      dataActions: [`${ACR}/repositories/content/read`, `${ACR}/repositories/metadata/read`],
    },
    { supportsRepositoryConditions: true },
  ),
  role(
    '41e95607-eb55-4a7f-8412-1b7d4b4e6ed6',
    'Container Registry Repository Writer',
    'Allows for read and write access to Azure Container Registry repositories, but excluding catalog listing.',
    {
      dataActions: [
        `${ACR}/repositories/content/read`,
        `${ACR}/repositories/metadata/read`,
        `${ACR}/repositories/content/write`,
        `${ACR}/repositories/metadata/write`,
      ],
    },
    { supportsRepositoryConditions: true },
  ),
  role(
    '2efddaa5-3f1f-4df3-97df-af3f13818f4c',
    'Container Registry Repository Contributor',
    'Allows for read, write, and delete access to Azure Container Registry repositories, but excluding catalog listing.',
    {
      dataActions: [
        `${ACR}/repositories/content/read`,
        `${ACR}/repositories/metadata/read`,
        `${ACR}/repositories/content/write`,
        `${ACR}/repositories/metadata/write`,
        `${ACR}/repositories/content/delete`,
        `${ACR}/repositories/metadata/delete`,
      ],
    },
    { supportsRepositoryConditions: true },
  ),
  role(
    'bfdb9389-c9a5-478a-bb2f-ba9ca092c3c7',
    'Container Registry Repository Catalog Lister',
    'Allows for listing all repositories in an Azure Container Registry.',
    {
      dataActions: [`${ACR}/catalog/read`],
    },
  ),
  role(
    '577a9874-89fd-4f24-9dbd-b5034d0ad23a',
    'Container Registry Data Importer and Data Reader',
    'Allows for importing images into a registry and reading the registry content, including catalog listing.',
    {
      actions: [`${ACR}/importImage/action`, `${ACR}/pull/read`, `${ACR}/read`],
      dataActions: [
        `${ACR}/repositories/content/read`,
        `${ACR}/repositories/metadata/read`,
        `${ACR}/catalog/read`,
      ],
    },
    { supportsRepositoryConditions: true },
  ),
  role(
    'fb382eab-e894-4461-af04-94435c366c3f',
    'Container Registry Tasks Contributor',
    'Allows for managing and triggering Azure Container Registry tasks, runs, logs and agent pools.',
    {
      actions: [
        `${ACR}/read`,
        `${ACR}/tasks/*`,
        `${ACR}/runs/*`,
        `${ACR}/taskRuns/*`,
        `${ACR}/agentPools/*`,
        `${ACR}/scheduleRun/action`,
        `${ACR}/listBuildSourceUploadUrl/action`,
      ],
    },
  ),
  role(
    '69b07be0-09bf-439a-b9a6-e73de851bd59',
    'Container Registry Configuration Reader and Data Access Configuration Reader',
    'Provides permissions to read registry configuration and data access configuration.',
    {
      actions: [
        `${ACR}/read`,
        `${ACR}/listCredentials/action`,
        `${ACR}/scopeMaps/read`,
        `${ACR}/tokens/read`,
        `${ACR}/privateEndpointConnections/read`,
      ],
    },
  ),
  role(
    '3bc748fc-213d-45c1-8d91-9da5725539b9',
    'Container Registry Contributor and Data Access Configuration Administrator',
    'Allows for managing registries, admin credentials, scope maps and tokens, without data access.',
    {
      actions: [`${ACR}/*`],
      notActions: [`${ACR}/pull/read`, `${ACR}/push/write`, `${ACR}/artifacts/delete`],
    },
  ),
];

const BY_ID = new Map(BUILT_IN_ROLES.map((r) => [r.id, r]));
const BY_NAME = new Map(BUILT_IN_ROLES.map((r) => [r.roleName.toLowerCase(), r]));

export function roleById(id: string): RoleDefinition | undefined {
  return BY_ID.get(id.toLowerCase());
}

export function roleByName(name: string): RoleDefinition | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** Role definition GUID from an id in any accepted form (bare GUID or a `.../roleDefinitions/<guid>` path). */
export function roleDefinitionGuid(value: string): string {
  const match = /roleDefinitions\/([0-9a-fA-F-]{36})\/?$/.exec(value);
  return (match?.[1] ?? value).toLowerCase();
}
