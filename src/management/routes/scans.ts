/**
 * @module management/routes/scans
 * The vulnerability scanner's results under a registry, ARM-shaped: `scanResults` lists the
 * latest result of each scanned manifest digest (filters: repository, digest, or reference =
 * a tag or digest in that repository), and `scan`
 * runs a scan now (the scanner then pulls through the data plane like on a push, so a
 * network-restricted registry that refuses trusted services makes it fail with the reason).
 */
import { parseDigest } from '../../core/digest.js';
import { isObject } from '../../core/json.js';
import type { ScanResult } from '../../services/scanner/index.js';
import { ArmError } from '../arm-errors.js';
import type { ArmRouter } from '../arm-router.js';
import type { ManagementContext } from '../context.js';
import { REGISTRY_TYPE } from '../registry-resource.js';
import { authorizedRegistry } from './registries.js';

const BASE =
  '/subscriptions/:subscriptionId/resourceGroups/:resourceGroup/providers/Microsoft.ContainerRegistry/registries/:name';

function validDigest(value: string): string {
  try {
    return parseDigest(value).value;
  } catch {
    throw new ArmError(400, 'InvalidRequestContent', `'${value}' is not a digest.`);
  }
}

export function registerScanRoutes(router: ArmRouter, context: ManagementContext): void {
  router.add('GET', `${BASE}/scanResults`, async ({ caller, params, apiVersion, query }) => {
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${REGISTRY_TYPE}/scanResults/read`,
    );
    const store = context.scannerStore;
    if (!store) return { value: [] };
    const repository = query.get('repository') ?? undefined;
    const reference = query.get('reference');
    if (reference !== null && !repository)
      throw new ArmError(400, 'InvalidRequestContent', "'reference' needs 'repository'.");
    // A tag names a digest; results are kept per digest.
    const digest =
      reference !== null && !reference.includes(':')
        ? ((await context.metadata.resolveTag(registry.id, repository!, reference)) ?? '')
        : (reference ?? query.get('digest'));
    if (digest === '') return { value: [] };
    if (digest !== null) {
      const stored = await store.getResult(registry.id, validDigest(digest));
      const results = stored && (!repository || stored.repository === repository) ? [stored] : [];
      return { value: results.map((r) => JSON.parse(r.result) as ScanResult) };
    }
    const stored = await store.listResults(registry.id, repository);
    return { value: stored.map((r) => JSON.parse(r.result) as ScanResult) };
  });

  router.add('POST', `${BASE}/scan`, async ({ caller, params, apiVersion, body }) => {
    const registry = await authorizedRegistry(
      context,
      caller,
      params,
      apiVersion,
      `${REGISTRY_TYPE}/scan/action`,
    );
    const input = isObject(body) ? body : {};
    if (typeof input.repository !== 'string' || input.repository === '')
      throw new ArmError(400, 'InvalidRequestContent', "'repository' is required.");
    const reference =
      typeof input.reference === 'string' && input.reference !== '' ? input.reference : 'latest';
    const repository = input.repository;
    const digest = reference.includes(':')
      ? validDigest(reference)
      : await context.metadata.resolveTag(registry.id, repository, reference);
    const manifest = digest
      ? await context.metadata.getManifest(registry.id, repository, digest)
      : undefined;
    if (!digest || !manifest) {
      throw new ArmError(
        404,
        'ManifestUnknown',
        `The image '${repository}:${reference}' does not exist in registry '${registry.name}'.`,
      );
    }
    if (!context.scanner)
      throw new ArmError(503, 'ScannerUnavailable', 'The scanner is not running.');
    const result = await context.scanner.enqueue(
      { registryId: registry.id, loginServer: registry.loginServer, repository, digest },
      'request',
    );
    if (!result) {
      throw new ArmError(
        400,
        'NotAnImage',
        `'${repository}@${digest}' is an artifact, not an image; only images are scanned.`,
      );
    }
    return result;
  });
}
