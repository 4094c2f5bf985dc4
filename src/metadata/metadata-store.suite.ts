/**
 * @module metadata/metadata-store.suite
 * The contract every MetadataStore backend must pass. A backend's test file calls
 * `metadataStoreContract(name, () => openBackend())` and nothing else.
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KyselyControlPlaneStore } from './kysely-control-plane-store.js';
import type { KyselyMetadataStore } from './kysely-metadata-store.js';
import type { MetadataStore, RegistryRecord } from './metadata-store.js';

function digest(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export function metadataStoreContract(
  backendName: string,
  openStore: () => Promise<MetadataStore>,
): void {
  describe(`MetadataStore contract: ${backendName}`, () => {
    let store: MetadataStore;
    let registry: RegistryRecord;

    beforeEach(async () => {
      store = await openStore();
      registry = await store.createRegistry({
        name: `reg${randomUUID().slice(0, 8)}`,
        loginServer: `Reg-${randomUUID().slice(0, 8)}.example.test`,
        aliases: ['127.0.0.1:5999'],
      });
    });
    afterEach(async () => {
      await store.close();
    });

    it('finds registries by name and by any host, case-insensitively', async () => {
      expect((await store.getRegistryByName(registry.name))?.id).toBe(registry.id);
      expect((await store.getRegistryByHost(registry.loginServer.toUpperCase()))?.id).toBe(
        registry.id,
      );
      expect((await store.getRegistryByHost('127.0.0.1:5999'))?.id).toBe(registry.id);
      expect(await store.getRegistryByHost('unknown.example.test')).toBeUndefined();
      expect(registry.aliases).toEqual(['127.0.0.1:5999']);
      expect(registry.loginServer).toBe(registry.loginServer.toLowerCase());
    });

    it('adds host aliases unless another registry owns the host', async () => {
      const other = await store.createRegistry({
        name: 'other1',
        loginServer: 'other1.example.test',
      });
      expect(await store.addRegistryHost(registry.id, 'LOCALHOST:5999')).toBe(true);
      expect((await store.getRegistryByHost('localhost:5999'))?.id).toBe(registry.id);
      expect(await store.addRegistryHost(other.id, 'localhost:5999')).toBe(false);
      expect(await store.addRegistryHost(registry.id, 'localhost:5999')).toBe(true);
    });

    it('shows every change at the next lookup, even two in one millisecond', async () => {
      for (let i = 0; i < 5; i += 1) {
        await store.updateRegistry(registry.id, (current) => ({
          properties: { ...current.properties, counter: i },
        }));
        const seen = await store.getRegistryByHost('127.0.0.1:5999');
        expect(seen?.properties.counter).toBe(i);
      }
      const first = await store.getRegistryByName(registry.name);
      await store.addRegistryHost(registry.id, 'new-alias:1');
      const second = await store.getRegistryByName(registry.name);
      expect(second!.updatedAt > first!.updatedAt).toBe(true);
      expect(second?.aliases).toContain('new-alias:1');
    });

    it('applies concurrent read-modify-write changes one after another, losing none', async () => {
      await Promise.all(
        Array.from({ length: 8 }, () =>
          store.updateRegistry(registry.id, (current) => ({
            properties: {
              ...current.properties,
              counter: Number(current.properties.counter ?? 0) + 1,
            },
          })),
        ),
      );
      expect((await store.getRegistryById(registry.id))?.properties.counter).toBe(8);
      await store.linkBlob(registry.id, 'locked', digest('x'));
      const target = { kind: 'repository' } as const;
      await Promise.all([
        store.updateAttributes(registry.id, 'locked', target, { writeEnabled: false }),
        store.updateAttributes(registry.id, 'locked', target, { deleteEnabled: false }),
        store.updateAttributes(registry.id, 'locked', target, { listEnabled: false }),
      ]);
      expect(await store.getAttributes(registry.id, 'locked', target)).toEqual({
        readEnabled: true,
        writeEnabled: false,
        deleteEnabled: false,
        listEnabled: false,
      });
    });

    it('keeps sizes past 4 GiB exact, as numbers', async () => {
      const huge = digest('huge');
      const size = 5 * 2 ** 30 + 7;
      await store.recordBlob(huge, size);
      expect(await store.getBlobSize(huge)).toBe(size);
    });

    it('refuses a second registry with the same name', async () => {
      await expect(
        store.createRegistry({ name: registry.name, loginServer: 'other.example.test' }),
      ).rejects.toThrow();
    });

    it('links blobs per repository', async () => {
      const blob = digest('layer');
      await store.recordBlob(blob, 5);
      await store.recordBlob(blob, 5);
      expect(await store.getBlobSize(blob)).toBe(5);
      await store.linkBlob(registry.id, 'team/app', blob);
      expect(await store.getLinkedBlob(registry.id, 'team/app', blob)).toBe(5);
      expect(await store.getLinkedBlob(registry.id, 'other', blob)).toBeUndefined();
      expect(await store.findRepositoryWithBlob(registry.id, blob)).toBe('team/app');
      expect(await store.repositoryExists(registry.id, 'team/app')).toBe(true);
      expect(await store.unlinkBlob(registry.id, 'team/app', blob)).toBe('unlinked');
      expect(await store.unlinkBlob(registry.id, 'team/app', blob)).toBe('unknown');
    });

    it('stores a manifest with its tag only when every reference exists', async () => {
      const config = digest('config');
      const layer = digest('layer');
      const manifest = {
        digest: digest('manifest'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        content: Buffer.from('{"manifest":1}'),
        blobs: [config, layer],
        children: [],
        tag: 'v1',
      };
      const missing = await store.putManifest(registry.id, 'app', manifest);
      expect(missing).toEqual({ missingBlobs: [config, layer], missingManifests: [] });
      expect(await store.repositoryExists(registry.id, 'app')).toBe(false);

      for (const blob of [config, layer]) {
        await store.recordBlob(blob, 10);
        await store.linkBlob(registry.id, 'app', blob);
      }
      expect(await store.putManifest(registry.id, 'app', manifest)).toBeUndefined();
      expect(await store.resolveTag(registry.id, 'app', 'v1')).toBe(manifest.digest);
      const stored = await store.getManifest(registry.id, 'app', manifest.digest);
      expect(stored?.content).toEqual(manifest.content);
      expect(stored?.mediaType).toBe(manifest.mediaType);
      expect(stored?.size).toBe(manifest.content.length);
      // A referenced blob keeps its link; another repository's link is its own.
      expect(await store.unlinkBlob(registry.id, 'app', layer)).toEqual({
        referencedBy: manifest.digest,
      });
      expect(await store.getLinkedBlob(registry.id, 'app', layer)).toBe(10);
      await store.linkBlob(registry.id, 'elsewhere', layer);
      expect(await store.unlinkBlob(registry.id, 'elsewhere', layer)).toBe('unlinked');
    });

    it('checks index children and lists referrers by subject and artifact type', async () => {
      const child = {
        digest: digest('child'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        content: Buffer.from('{}'),
        blobs: [],
        children: [],
      };
      const index = {
        digest: digest('index'),
        mediaType: 'application/vnd.oci.image.index.v1+json',
        content: Buffer.from('{"i":1}'),
        blobs: [],
        children: [child.digest],
      };
      expect(await store.putManifest(registry.id, 'multi', index)).toEqual({
        missingBlobs: [],
        missingManifests: [child.digest],
      });
      expect(await store.putManifest(registry.id, 'multi', child)).toBeUndefined();
      expect(await store.putManifest(registry.id, 'multi', index)).toBeUndefined();

      for (const [name, type] of [
        ['sig', 'application/vnd.example.sig'],
        ['sbom', 'application/spdx+json'],
      ] as const) {
        await store.putManifest(registry.id, 'multi', {
          digest: digest(name),
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: type,
          content: Buffer.from(name),
          subject: child.digest,
          annotations: { name },
          blobs: [],
          children: [],
        });
      }
      const all = await store.listReferrers(registry.id, 'multi', child.digest);
      expect(all.map((r) => r.artifactType).sort()).toEqual([
        'application/spdx+json',
        'application/vnd.example.sig',
      ]);
      const sboms = await store.listReferrers(
        registry.id,
        'multi',
        child.digest,
        'application/spdx+json',
      );
      expect(sboms).toEqual([
        {
          digest: digest('sbom'),
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: 'application/spdx+json',
          size: 4,
          annotations: { name: 'sbom' },
        },
      ]);
    });

    it('lists tags and repositories in lexical order with n/last pagination', async () => {
      const m = {
        digest: digest('m'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        content: Buffer.from('{}'),
        blobs: [],
        children: [],
      };
      for (const tag of ['b', 'a', 'c', 'B'])
        await store.putManifest(registry.id, 'repo', { ...m, tag });
      expect(await store.listTags(registry.id, 'repo')).toEqual(['B', 'a', 'b', 'c']);
      expect(await store.listTags(registry.id, 'repo', { limit: 2 })).toEqual(['B', 'a']);
      expect(await store.listTags(registry.id, 'repo', { limit: 2, last: 'a' })).toEqual([
        'b',
        'c',
      ]);
      await store.putManifest(registry.id, 'another', m);
      expect(await store.listRepositories(registry.id)).toEqual(['another', 'repo']);
      expect(await store.listRepositories(registry.id, { last: 'another' })).toEqual(['repo']);
    });

    it('deletes a manifest together with its tags, and single tags', async () => {
      const m = {
        digest: digest('del'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        content: Buffer.from('{}'),
        blobs: [],
        children: [],
      };
      await store.putManifest(registry.id, 'r', { ...m, tag: 'one' });
      await store.putManifest(registry.id, 'r', { ...m, tag: 'two' });
      expect(await store.deleteTag(registry.id, 'r', 'one')).toBe(true);
      expect(await store.deleteTag(registry.id, 'r', 'one')).toBe(false);
      expect(await store.deleteManifest(registry.id, 'r', m.digest)).toBe(true);
      expect(await store.resolveTag(registry.id, 'r', 'two')).toBeUndefined();
      expect(await store.getManifest(registry.id, 'r', m.digest)).toBeUndefined();
      expect(await store.deleteManifest(registry.id, 'r', m.digest)).toBe(false);
    });

    it('publishes an upload in one step: blob recorded, linked, session gone', async () => {
      const id = randomUUID();
      const blob = digest('published');
      await store.createUpload({ id, registryId: registry.id, repository: 'pub' });
      await store.publishUpload(registry.id, 'pub', blob, 42, id);
      expect(await store.getLinkedBlob(registry.id, 'pub', blob)).toBe(42);
      expect(await store.getUpload(id)).toBeUndefined();
      await store.publishUpload(registry.id, 'pub', blob, 42, id);
    });

    /** A timestamp strictly after everything written so far, and before anything written next. */
    async function cutoffNow(): Promise<string> {
      await new Promise((r) => setTimeout(r, 5));
      const cutoff = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      return cutoff;
    }

    const manifestOf = (name: string, extra: Record<string, unknown> = {}) => ({
      digest: digest(name),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      content: Buffer.from(JSON.stringify({ name })),
      blobs: [] as string[],
      children: [] as string[],
      ...extra,
    });

    it('collects only blobs that nothing references, links lately or has claimed', async () => {
      const [kept, loose, fresh, claimed] = ['kept', 'loose', 'fresh', 'claimed'].map(digest);
      for (const blob of [kept!, loose!, fresh!, claimed!]) {
        await store.recordBlob(blob, 3);
        await store.linkBlob(registry.id, 'gc', blob);
      }
      await store.putManifest(registry.id, 'gc', manifestOf('m', { blobs: [kept!], tag: 'v1' }));
      const upload = randomUUID();
      await store.createUpload({ id: upload, registryId: registry.id, repository: 'gc' });
      await store.claimUploadDigest(upload, claimed!);
      const cutoff = await cutoffNow();
      // Pushed again after the cutoff: as new as its latest push.
      await store.linkBlob(registry.id, 'gc', fresh!);

      expect(await store.listGarbageBlobs(cutoff, 100)).toEqual([loose]);
      const deleted: string[] = [];
      const deleter = (blob: string) => async () => void deleted.push(blob);
      expect(await store.collectBlob(kept!, cutoff, deleter(kept!))).toBe(false);
      expect(await store.collectBlob(loose!, cutoff, deleter(loose!))).toBe(true);
      expect(deleted).toEqual([loose]);
      expect(await store.getBlobSize(loose!)).toBeUndefined();
      expect(await store.getLinkedBlob(registry.id, 'gc', loose!)).toBeUndefined();
      expect(await store.getLinkedBlob(registry.id, 'gc', kept!)).toBe(3);

      // A claim ends with its session; then the blob is garbage like any other.
      await store.deleteUpload(upload);
      expect(await store.listGarbageBlobs(cutoff, 100)).toEqual([claimed]);

      // Bytes without a row go, unless a row or a claim appeared.
      const orphan = digest('orphan');
      expect(await store.collectOrphan(kept!, deleter(kept!))).toBe(false);
      const another = randomUUID();
      await store.createUpload({ id: another, registryId: registry.id, repository: 'gc' });
      await store.claimUploadDigest(another, orphan);
      expect(await store.collectOrphan(orphan, deleter(orphan))).toBe(false);
      await store.deleteUpload(another);
      expect(await store.collectOrphan(orphan, deleter(orphan))).toBe(true);
      expect(deleted).toEqual([loose, orphan]);
    });

    it('never stores a manifest over a blob while it is being collected', async () => {
      const blob = digest('racing');
      await store.recordBlob(blob, 3);
      await store.linkBlob(registry.id, 'gc', blob);
      const cutoff = await cutoffNow();
      let release = () => {};
      const gate = new Promise<void>((r) => (release = r));
      let entered = () => {};
      const deleting = new Promise<void>((r) => (entered = r));
      const collecting = store.collectBlob(blob, cutoff, async () => {
        entered();
        await gate;
      });
      await deleting;
      const racer = manifestOf('racer', { blobs: [blob], tag: 'r' });
      const pushing = store.putManifest(registry.id, 'gc', racer);
      // Give the push time to reach the store while the bytes are being deleted.
      await new Promise((r) => setTimeout(r, 100));
      release();
      expect(await collecting).toBe(true);
      expect(await pushing).toEqual({ missingBlobs: [blob], missingManifests: [] });
      expect(await store.getManifest(registry.id, 'gc', racer.digest)).toBeUndefined();
    });

    it('expires untagged manifests that no index lists, no lock protects and are not referrers', async () => {
      const put = async (name: string, extra: Record<string, unknown> = {}) => {
        const manifest = manifestOf(name, extra);
        expect(await store.putManifest(registry.id, 'ret', manifest)).toBeUndefined();
        return manifest.digest;
      };
      await put('tagged', { tag: 'v1' });
      const loose = await put('loose');
      const child = await put('child');
      const index = await put('index', { children: [child] });
      const locked = await put('locked');
      await store.updateAttributes(
        registry.id,
        'ret',
        { kind: 'manifest', digest: locked },
        {
          deleteEnabled: false,
        },
      );
      await put('referrer', { subject: loose });
      const cutoff = await cutoffNow();
      await put('young');

      const expired = await store.listExpiredUntaggedManifests(registry.id, cutoff);
      expect(expired).toEqual([loose, index].sort().map((d) => ({ repository: 'ret', digest: d })));
      expect(await store.deleteExpiredUntaggedManifest(registry.id, 'ret', loose, cutoff)).toBe(
        true,
      );
      expect(await store.getManifest(registry.id, 'ret', loose)).toBeUndefined();
      // Tagged meanwhile: no longer expired.
      await store.putManifest(
        registry.id,
        'ret',
        manifestOf('index', { children: [child], tag: 'i' }),
      );
      expect(await store.deleteExpiredUntaggedManifest(registry.id, 'ret', index, cutoff)).toBe(
        false,
      );
      expect(await store.getManifest(registry.id, 'ret', index)).toBeDefined();
    });

    it('soft-deletes manifests and tags, keeps their blobs, restores them and purges them', async () => {
      const [layer, other] = ['sd-layer', 'sd-other'].map(digest) as [string, string];
      for (const blob of [layer, other]) {
        await store.recordBlob(blob, 3);
        await store.linkBlob(registry.id, 'sd', blob);
      }
      const image = manifestOf('sd-image', { blobs: [layer], tag: 'v1' });
      const replacement = manifestOf('sd-new', { blobs: [other] });
      expect(await store.putManifest(registry.id, 'sd', image)).toBeUndefined();
      expect(await store.putManifest(registry.id, 'sd', replacement)).toBeUndefined();
      expect(await store.deleteManifest(registry.id, 'sd', image.digest, true)).toBe(true);

      expect(await store.getManifest(registry.id, 'sd', image.digest)).toBeUndefined();
      expect(await store.resolveTag(registry.id, 'sd', 'v1')).toBeUndefined();
      expect((await store.listDeletedManifests(registry.id, 'sd')).map((m) => m.digest)).toEqual([
        image.digest,
      ]);
      expect(await store.listDeletedTags(registry.id, 'sd')).toMatchObject([
        { name: 'v1', digest: image.digest },
      ]);
      // Its layer is not garbage while it is restorable.
      const cutoff = await cutoffNow();
      await store.deleteManifest(registry.id, 'sd', replacement.digest);
      expect(await store.listGarbageBlobs(cutoff, 100)).toEqual([other]);

      // The tag moved on meanwhile: restoring under it needs force, and soft-deletes the mover.
      await store.putManifest(registry.id, 'sd', { ...replacement, tag: 'v1' });
      const restore = (force: boolean) =>
        store.restoreManifest(registry.id, 'sd', image.digest, {
          tag: 'v1',
          force,
          softDelete: true,
        });
      expect(await restore(false)).toBe('tag-exists');
      expect(await restore(true)).toBe('restored');
      expect(await store.resolveTag(registry.id, 'sd', 'v1')).toBe(image.digest);
      expect((await store.getManifest(registry.id, 'sd', image.digest))?.content).toEqual(
        image.content,
      );
      expect(await store.listDeletedManifests(registry.id, 'sd')).toEqual([]);
      expect(await store.listDeletedTags(registry.id, 'sd')).toMatchObject([
        { name: 'v1', digest: replacement.digest },
      ]);
      expect(await store.restoreManifest(registry.id, 'sd', digest('never'), {})).toBe('not-found');

      // A deleted repository lists as deleted, and its manifest comes back with its blob links.
      expect(await store.deleteRepository(registry.id, 'sd', true)).toBeDefined();
      expect(await store.listDeletedRepositories(registry.id)).toEqual(['sd']);
      expect(await store.restoreManifest(registry.id, 'sd', image.digest, { tag: 'v1' })).toBe(
        'restored',
      );
      expect(await store.getLinkedBlob(registry.id, 'sd', layer)).toBe(3);
      expect(await store.listDeletedRepositories(registry.id)).toEqual([]);

      // Untagging soft-deletes the tag alone; expiry forgets everything deleted before it.
      expect(await store.deleteTag(registry.id, 'sd', 'v1', true)).toBe(true);
      await store.deleteManifest(registry.id, 'sd', image.digest, true);
      // The replacement went with the repository and was never restored.
      expect(await store.purgeDeleted(registry.id, await cutoffNow())).toBe(2);
      expect(await store.listDeletedManifests(registry.id, 'sd')).toEqual([]);
      expect(await store.listDeletedTags(registry.id, 'sd')).toEqual([]);
      expect(await store.listGarbageBlobs(new Date().toISOString(), 100)).toContain(layer);
    });

    it('keeps upload sessions', async () => {
      const id = randomUUID();
      await store.createUpload({ id, registryId: registry.id, repository: 'r' });
      expect((await store.getUpload(id))?.repository).toBe('r');
      await store.touchUpload(id);
      expect((await store.listUploads()).map((u) => u.id)).toContain(id);
      await store.deleteUpload(id);
      expect(await store.getUpload(id)).toBeUndefined();
    });

    it('moves the access generation with every change the access decision reads', async () => {
      const kysely = store as KyselyMetadataStore;
      const controlPlane = new KyselyControlPlaneStore(kysely.database, kysely.accessWrites);
      const seen = [await controlPlane.accessGeneration()];
      const moved = async (change: string) => {
        const generation = await controlPlane.accessGeneration();
        expect(seen, `the generation after ${change}`).not.toContain(generation);
        seen.push(generation);
      };
      const objectId = randomUUID();
      await controlPlane.createPrincipal({
        objectId,
        tenantId: randomUUID(),
        appId: randomUUID(),
        kind: 'ServicePrincipal',
        displayName: 'p',
        resourceId: null,
      });
      await moved('a new principal');
      const secretId = randomUUID();
      await controlPlane.addSecret({
        id: secretId,
        principalId: objectId,
        hash: 'h',
        hint: 'h',
        createdAt: new Date().toISOString(),
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      });
      await moved('a new secret');
      await controlPlane.deleteSecret(secretId);
      await moved('a removed secret');
      const resourceId = `/subscriptions/${randomUUID()}/resourcegroups/rg/providers/x/y/z`;
      const resource = {
        id: resourceId,
        type: 'x/y',
        subscriptionId: randomUUID(),
        resourceGroup: 'rg',
        name: 'z',
        location: null,
        tags: null,
        sku: null,
        identity: null,
        properties: {},
        systemData: null,
      };
      await controlPlane.putResource(resource);
      await moved('a new resource');
      await controlPlane.putResource({ ...resource, properties: { status: 'disabled' } });
      await moved('a changed resource');
      await controlPlane.deleteResource(resourceId);
      await moved('a removed resource');
      const assignment = randomUUID();
      await controlPlane.createRoleAssignment({
        name: assignment,
        scope: resourceId,
        roleDefinitionId: randomUUID(),
        principalId: objectId,
        principalType: 'ServicePrincipal',
        condition: null,
        conditionVersion: null,
        description: null,
        createdBy: null,
      });
      await moved('a new role assignment');
      await controlPlane.deleteRoleAssignment(assignment);
      await moved('a removed role assignment');
      await controlPlane.putRegistryCredential({
        registryId: registry.id,
        name: 'password',
        hash: 'h',
        sealed: 's',
        createdAt: new Date().toISOString(),
      });
      await moved('a new admin password');
      await controlPlane.deletePrincipal(objectId);
      await moved('a removed principal');
      // A private endpoint's listener lives as long as its registry (server/reconcile-on-change).
      const other = await store.createRegistry({
        name: `gen${randomUUID().slice(0, 8)}`,
        loginServer: `gen-${randomUUID().slice(0, 8)}.example.test`,
      });
      await moved('a new registry');
      await store.deleteRegistry(other.id);
      await moved('a removed registry');
      // Data-plane writes and registry settings leave it alone: requests read those fresh.
      await store.createUpload({ id: randomUUID(), registryId: registry.id, repository: 'r' });
      await store.updateRegistry(registry.id, (current) => ({
        properties: { ...current.properties, anonymousPullEnabled: true },
      }));
      expect(await controlPlane.accessGeneration()).toBe(seen.at(-1));
    });
  });
}
