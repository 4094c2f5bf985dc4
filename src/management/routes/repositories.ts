/**
 * @module management/routes/repositories
 * What a registry holds, through the management API (the portal talks to nothing else):
 * `listUsages` as ACR answers it (storage used against the SKU's included storage), and two
 * Breakwater reads, `repositories` (each with counts and last push) and
 * `repositories/{name}` (manifests with tags, sizes and referrers). A repository name with
 * slashes travels as one URL-encoded segment (`net%2Fapp`).
 */
import type { FastifyRequest } from 'fastify';
import type { RegistryRecord } from '../../metadata/index.js';
import { ArmError } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { REGISTRY_TYPE } from '../registry-resource.js';
import { authorizedRegistry } from './registries.js';
import { isObject } from '../../core/json.js';

const BASE =
  '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers/Microsoft.ContainerRegistry/registries/:name';

const GIB = 1024 ** 3;
/** ACR's included storage per SKU, the `limit` its listUsages reports for `Size`. */
const INCLUDED_STORAGE: Record<string, number> = {
  Basic: 10 * GIB,
  Standard: 100 * GIB,
  Premium: 500 * GIB,
};

/** Config and layer bytes an image manifest references (0 for an index or unparseable). */
function referencedBytes(content: Buffer): number {
  try {
    const manifest = JSON.parse(content.toString('utf8')) as unknown;
    if (!isObject(manifest)) return 0;
    const descriptors = [
      manifest.config,
      ...(Array.isArray(manifest.layers) ? manifest.layers : []),
    ];
    return descriptors.reduce<number>(
      (sum, d) => sum + (isObject(d) && typeof d.size === 'number' ? d.size : 0),
      0,
    );
  } catch {
    return 0;
  }
}

export function registerRepositoryRoutes(router: ArmRouter, context: ManagementContext): void {
  const { metadata } = context;

  /**
   * Repository contents are data, not settings: ACR's portal reads them through the data plane,
   * so its firewall applies. Here they travel through the management API, so the caller's
   * address must pass the registry's network stage as it would at the data endpoint (no
   * trusted-service bypass: a person browsing is not a trusted service).
   */
  const throughNetworkRules = async (registry: RegistryRecord, request: FastifyRequest) => {
    const source = context.decider.sourceOf(request.socket.remoteAddress, request.headers);
    const explanation = await context.decider.explain(registry, source);
    if (!explanation.network.allowed) {
      throw new ArmError(
        403,
        'RegistryNetworkAccessDenied',
        `Client with IP '${source}' is not allowed to read the contents of registry '${registry.name}': ${explanation.network.reason}. Refer https://aka.ms/acr/firewall to grant access.`,
      );
    }
  };

  router.add('GET', `${BASE}/listUsages`, async ({ caller, params, apiVersion }) => {
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${REGISTRY_TYPE}/listUsages/read`,
    );
    const sku = registry.arm?.sku.name ?? 'Standard';
    return {
      value: [
        {
          name: 'Size',
          limit: INCLUDED_STORAGE[sku] ?? INCLUDED_STORAGE.Standard,
          currentValue: await metadata.storageUsed(registry.id),
          unit: 'Bytes',
        },
      ],
    };
  });

  router.add('GET', `${BASE}/repositories`, async ({ caller, params, apiVersion, request }) => {
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${REGISTRY_TYPE}/pull/read`,
    );
    await throughNetworkRules(registry, request);
    const value = [];
    for (const name of await metadata.listRepositories(registry.id)) {
      const info = await metadata.getRepositoryInfo(registry.id, name);
      if (info) {
        value.push({
          name: info.name,
          createdTime: info.createdAt,
          lastUpdateTime: info.lastUpdateTime,
          manifestCount: info.manifestCount,
          tagCount: info.tagCount,
        });
      }
    }
    return { value };
  });

  router.add(
    'GET',
    `${BASE}/repositories/:repository`,
    async ({ caller, params, apiVersion, request }) => {
      const registry = await authorizedRegistry(
        context,
        caller,
        params,
        apiVersion,
        `${REGISTRY_TYPE}/pull/read`,
      );
      await throughNetworkRules(registry, request);
      const repository = params.repository!;
      const info = await metadata.getRepositoryInfo(registry.id, repository);
      if (!info) {
        throw new ArmError(
          404,
          'RepositoryNotFound',
          `The repository '${repository}' does not exist in registry '${params.name}'.`,
        );
      }
      const manifests = [];
      for (const manifest of await metadata.listManifestInfos(registry.id, repository)) {
        const record = await metadata.getManifest(registry.id, repository, manifest.digest);
        const referrers = await metadata.listReferrers(registry.id, repository, manifest.digest);
        manifests.push({
          digest: manifest.digest,
          mediaType: manifest.mediaType,
          artifactType: manifest.artifactType,
          tags: manifest.tags,
          createdTime: manifest.createdAt,
          manifestSize: manifest.size,
          imageSize: manifest.size + (record ? referencedBytes(record.content) : 0),
          subject: record?.subject ?? null,
          referrers: referrers.map((r) => ({
            digest: r.digest,
            artifactType: r.artifactType,
            mediaType: r.mediaType,
            size: r.size,
          })),
        });
      }
      // Newest first, as a portal lists them.
      manifests.reverse();
      return {
        name: info.name,
        createdTime: info.createdAt,
        lastUpdateTime: info.lastUpdateTime,
        manifestCount: info.manifestCount,
        tagCount: info.tagCount,
        manifests,
      };
    },
  );
}
