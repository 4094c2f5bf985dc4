/**
 * @module metadata/service-stores.suite
 * The contract of the stores the services keep beside the registry metadata, on every engine:
 * task runs (ARM resources whose ids replicas allocate by counting), their logs (RunLogStore)
 * and the vulnerability scanner's database and results (ScannerStore). A backend's test file
 * calls `serviceStoresContract(name, () => openBackendStores())`.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewResource } from './control-plane-store.js';
import type { StoredAdvisory } from './scanner-store.js';
import type { MetadataStores } from './stores.js';

export function serviceStoresContract(
  backendName: string,
  openStores: () => Promise<MetadataStores>,
): void {
  describe(`service stores contract: ${backendName}`, () => {
    let stores: MetadataStores;
    const subscriptionId = randomUUID();
    const registryId = `/subscriptions/${subscriptionId}/resourceGroups/RG/providers/Microsoft.ContainerRegistry/registries/reg`;

    beforeEach(async () => {
      stores = await openStores();
    });
    afterEach(async () => {
      await stores.metadata.close();
    });

    const run = (name: string, properties: Record<string, unknown> = {}): NewResource => ({
      id: `${registryId}/runs/${name}`,
      type: 'Microsoft.ContainerRegistry/registries/runs',
      subscriptionId,
      resourceGroup: 'rg',
      name,
      location: null,
      tags: null,
      sku: null,
      identity: null,
      systemData: null,
      properties: { runId: name, status: 'Queued', ...properties },
    });

    it('creates a run id once, however many replicas race for it', async () => {
      const attempts = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          stores.controlPlane.createResource(run('ca1', { by: i })),
        ),
      );
      const winners = attempts.filter((created) => created !== undefined);
      expect(winners).toHaveLength(1);
      // The stored run is the winner's, untouched by the losers.
      const stored = await stores.controlPlane.getResource(`${registryId}/RUNS/CA1`);
      expect(stored?.properties).toEqual(winners[0]!.properties);

      expect(await stores.controlPlane.createResource(run('ca2'))).toBeDefined();
      const updated = await stores.controlPlane.putResource(run('ca2', { status: 'Running' }));
      expect(updated.properties.status).toBe('Running');
      const listed = await stores.controlPlane.listResources({
        subscriptionId: subscriptionId.toUpperCase(),
        resourceGroup: 'RG',
        type: 'microsoft.containerregistry/registries/RUNS',
      });
      expect(listed.map((r) => r.name)).toEqual(['ca1', 'ca2']);
    });

    it('writes a run only over the version it read (compare-and-set), losing no racing change', async () => {
      const created = (await stores.controlPlane.createResource(run('ca3')))!;
      const moved = await stores.controlPlane.putResource(run('ca3', { status: 'Running' }));
      expect(moved.version).toBeGreaterThan(created.version);
      // A write over the version read before another replica's write is refused, and changes nothing.
      const stale = await stores.controlPlane.replaceResource(
        run('ca3', { status: 'Succeeded' }),
        created.version,
      );
      expect(stale).toBeUndefined();
      expect((await stores.controlPlane.getResource(moved.id))?.properties.status).toBe('Running');
      const fresh = await stores.controlPlane.replaceResource(
        run('ca3', { status: 'Succeeded' }),
        moved.version,
      );
      expect(fresh?.properties.status).toBe('Succeeded');
      expect(
        await stores.controlPlane.replaceResource(run('nothere'), 0),
        'no resource, nothing to replace',
      ).toBeUndefined();

      // Replicas changing different properties of one run at once: every change lands.
      await stores.controlPlane.createResource(run('ca4'));
      const id = `${registryId}/RUNS/ca4`;
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          stores.controlPlane.updateResourceProperties(id, (properties) => ({
            ...properties,
            [`mark${i}`]: true,
          })),
        ),
      );
      const marked = await stores.controlPlane.getResource(id);
      for (let i = 0; i < 8; i += 1) expect(marked?.properties[`mark${i}`], `mark${i}`).toBe(true);
      // A change that declines leaves the run as it is.
      const untouched = await stores.controlPlane.updateResourceProperties(id, () => undefined);
      expect(untouched?.version).toBe(marked?.version);
      expect(
        await stores.controlPlane.updateResourceProperties(`${id}x`, (p) => p),
      ).toBeUndefined();
    });

    it('leases work to one live holder at a time; an expired lease passes to another', async () => {
      const runId = `${registryId}/runs/ca9`;
      const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));
      expect(await stores.leases.claim(runId, 'a/1', at(30), at(0))).toBe(true);
      expect(await stores.leases.find(runId.toUpperCase())).toEqual({
        resourceId: runId.toLowerCase(),
        owner: 'a/1',
        expiresAt: at(30).toISOString(),
      });
      // Held and unexpired: another process cannot take it; its holder can claim it again.
      expect(await stores.leases.claim(runId, 'b/1', at(40), at(10))).toBe(false);
      expect(await stores.leases.claim(runId, 'a/1', at(45), at(10))).toBe(true);
      expect((await stores.leases.find(runId))?.owner).toBe('a/1');
      // Renewal extends every lease of the holder and says which it holds.
      await stores.leases.claim(`${registryId}/runs/ca10`, 'a/1', at(45), at(10));
      expect(await stores.leases.renew('a/1', at(50))).toEqual(
        new Set([runId.toLowerCase(), `${registryId}/runs/ca10`.toLowerCase()]),
      );
      expect((await stores.leases.find(runId))?.expiresAt).toBe(at(50).toISOString());
      expect((await stores.leases.list()).map((lease) => lease.resourceId)).toEqual(
        [runId.toLowerCase(), `${registryId}/runs/ca10`.toLowerCase()].sort(),
      );
      // Past its expiry the lease passes on, and its former holder learns it lost it.
      expect(await stores.leases.claim(runId, 'b/1', at(80), at(51))).toBe(true);
      expect(await stores.leases.renew('a/1', at(60))).toEqual(
        new Set([`${registryId}/runs/ca10`.toLowerCase()]),
      );
      // Work that replaced the work of a live holder takes its lease.
      expect(await stores.leases.claim(runId, 'c/1', at(90), at(52), true)).toBe(true);
      expect((await stores.leases.find(runId))?.owner).toBe('c/1');
      expect(await stores.leases.claim(runId, 'a/1', at(90), at(53))).toBe(false);
      expect(await stores.leases.claim(runId, 'b/1', at(90), at(53), true)).toBe(true);
      // Only the holder gives it up.
      await stores.leases.release(runId, 'a/1');
      expect((await stores.leases.find(runId))?.owner).toBe('b/1');
      await stores.leases.release(runId, 'b/1');
      expect(await stores.leases.find(runId)).toBeUndefined();
    });

    it('reads a run log in sequence order, under any case of the run id, until removed', async () => {
      const runId = `${registryId}/runs/ca7`;
      // Appended out of order, past the point where text order differs from number order.
      for (const sequence of [0, 2, 10, 1, 11, 3, 4, 5, 6, 7, 8, 9]) {
        await stores.runLogs.append(runId, sequence, `${sequence};`);
      }
      await stores.runLogs.append(`${registryId}/runs/ca8`, 0, 'other');
      expect(await stores.runLogs.read(runId.toUpperCase())).toBe(
        Array.from({ length: 12 }, (_, i) => `${i};`).join(''),
      );
      // A chunk is written once: a second writer of the same sequence is refused.
      await expect(stores.runLogs.append(runId, 3, 'again')).rejects.toThrow();
      await stores.runLogs.remove(runId);
      expect(await stores.runLogs.read(runId)).toBe('');
      expect(await stores.runLogs.read(`${registryId}/runs/ca8`)).toBe('other');
    });

    const advisory = (id: string, names: string[]): StoredAdvisory => ({
      id,
      modified: '2026-01-01T00:00:00Z',
      record: JSON.stringify({ id }),
      packages: names.map((name) => ({ ecosystem: 'npm', name })),
    });

    it('replaces the vulnerability database whole and finds advisories by package and id', async () => {
      // More advisories and names than one insert chunk holds.
      const advisories = Array.from({ length: 450 }, (_, i) =>
        advisory(`GHSA-${String(i).padStart(4, '0')}`, [`pkg-${i % 300}`, `pkg-${i % 300}`]),
      );
      const info = {
        version: 'v1',
        contentHash: 'h1',
        importedAt: '2026-01-01T00:00:00.000Z',
        advisoryCount: advisories.length,
        source: 'test',
      };
      await stores.scanner.replaceDatabase(info, advisories);
      expect(await stores.scanner.databaseInfo()).toEqual(info);

      const names = Array.from({ length: 1500 }, (_, i) => `pkg-${i}`);
      const found = await stores.scanner.advisoriesAbout('npm', names);
      expect(found).toHaveLength(450);
      // The same order on every engine: by advisory id.
      expect(found.slice(0, 2)).toEqual([
        JSON.stringify({ id: 'GHSA-0000' }),
        JSON.stringify({ id: 'GHSA-0001' }),
      ]);
      expect(await stores.scanner.advisoriesAbout('npm', ['pkg-5'])).toEqual([
        JSON.stringify({ id: 'GHSA-0005' }),
        JSON.stringify({ id: 'GHSA-0305' }),
      ]);
      expect(await stores.scanner.advisoriesAbout('PyPI', ['pkg-5'])).toEqual([]);
      expect(await stores.scanner.advisoriesById(['GHSA-0449', 'CVE-none'])).toEqual([
        JSON.stringify({ id: 'GHSA-0449' }),
      ]);

      await stores.scanner.replaceDatabase({ ...info, version: 'v2', advisoryCount: 1 }, [
        advisory('GHSA-new', ['pkg-5']),
      ]);
      expect((await stores.scanner.databaseInfo())?.version).toBe('v2');
      expect(await stores.scanner.advisoriesAbout('npm', ['pkg-5'])).toEqual([
        JSON.stringify({ id: 'GHSA-new' }),
      ]);
    });

    it("keeps each manifest's latest scan, lists newest first, and forgets a deleted registry's", async () => {
      const registry = await stores.metadata.createRegistry({
        name: `scan${randomUUID().slice(0, 8)}`,
        loginServer: `scan-${randomUUID().slice(0, 8)}.example.test`,
      });
      const result = (digest: string, repository: string, scannedAt: string, status = 'ok') => ({
        registryId: registry.id,
        digest,
        repository,
        status,
        scannedAt,
        result: JSON.stringify({ digest, status }),
      });
      await stores.scanner.putResult(result('sha256:a', 'app', '2026-01-01T00:00:00.000Z'));
      await stores.scanner.putResult(result('sha256:b', 'lib', '2026-01-02T00:00:00.000Z'));
      await stores.scanner.putResult(
        result('sha256:a', 'app', '2026-01-03T00:00:00.000Z', 'vulnerable'),
      );
      expect((await stores.scanner.getResult(registry.id, 'sha256:a'))?.status).toBe('vulnerable');
      expect((await stores.scanner.listResults(registry.id)).map((r) => r.digest)).toEqual([
        'sha256:a',
        'sha256:b',
      ]);
      expect((await stores.scanner.listResults(registry.id, 'lib')).map((r) => r.digest)).toEqual([
        'sha256:b',
      ]);
      await stores.metadata.deleteRegistry(registry.id);
      expect(await stores.scanner.listResults(registry.id)).toEqual([]);
    });
  });
}
