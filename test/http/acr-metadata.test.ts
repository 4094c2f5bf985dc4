/**
 * ACR's `/acr/v1/` metadata API and the repository locks it manages: shapes as the az CLI reads
 * them, locks refusing pulls, pushes, overwrites and deletes for everyone, and unlisted items
 * hidden from listings. Every call passes the access decision.
 */
import { describe, expect, it } from 'vitest';
import { errorCode } from '../support/app.js';
import { getManifest, json, pushImage, pushImageAs, withApp } from './arm-helpers.js';

interface Attributes {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

describe('/acr/v1 metadata API and repository locks', () => {
  const app = withApp();
  const patch = (url: string, body: Partial<Attributes>) =>
    app().request({
      method: 'PATCH',
      url,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });

  it('describes repositories, tags and manifests as ACR does', async () => {
    const digest = await pushImage(app(), 'meta/app', 'v1');
    await pushImage(app(), 'meta/app', 'v2');
    const repository = json<Record<string, unknown>>(
      await app().request({ method: 'GET', url: '/acr/v1/meta/app' }),
    );
    expect(repository).toMatchObject({
      registry: 'myregistry.azurecr.localhost',
      imageName: 'meta/app',
      manifestCount: 2,
      tagCount: 2,
      changeableAttributes: {
        deleteEnabled: true,
        writeEnabled: true,
        readEnabled: true,
        listEnabled: true,
      },
    });
    expect(Object.keys(repository).sort()).toEqual([
      'changeableAttributes',
      'createdTime',
      'imageName',
      'lastUpdateTime',
      'manifestCount',
      'registry',
      'tagCount',
    ]);

    const tags = json<{ tags: { name: string; digest: string; signed: boolean }[] }>(
      await app().request({ method: 'GET', url: '/acr/v1/meta/app/_tags' }),
    );
    expect(tags.tags.map((t) => t.name)).toEqual(['v1', 'v2']);
    expect(tags.tags[0]).toMatchObject({ digest, signed: false });

    const manifests = json<{
      manifests: {
        digest: string;
        architecture: string;
        os: string;
        tags: string[];
        imageSize: number;
        mediaType: string;
      }[];
    }>(await app().request({ method: 'GET', url: '/acr/v1/meta/app/_manifests' }));
    const first = manifests.manifests.find((m) => m.digest === digest)!;
    expect(first).toMatchObject({
      architecture: 'amd64',
      os: 'linux',
      tags: ['v1'],
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
    });
    expect(first.imageSize).toBeGreaterThan(0);

    const catalog = json<{ repositories: string[] }>(
      await app().request({ method: 'GET', url: '/acr/v1/_catalog' }),
    );
    expect(catalog.repositories).toContain('meta/app');
  });

  it('locks a tag against overwrite and delete, for the owner too', async () => {
    await pushImage(app(), 'locked/app', 'stable');
    const locked = await patch('/acr/v1/locked/app/_tags/stable', { writeEnabled: false });
    expect(locked.statusCode).toBe(200);
    expect(
      json<{ tag: { changeableAttributes: Attributes } }>(locked).tag.changeableAttributes
        .writeEnabled,
    ).toBe(false);

    const overwrite = await pushImageAs(app(), undefined, 'locked/app', 'stable');
    expect(overwrite.response.statusCode).toBe(405);
    expect(errorCode(overwrite.response)).toBe('DENIED');
    expect(overwrite.response.body).toContain(
      'The operation is disallowed on this registry, repository or image.',
    );
    const remove = await app().request({
      method: 'DELETE',
      url: '/v2/locked/app/manifests/stable',
    });
    expect(remove.statusCode).toBe(405);
    // Other tags in the repository are unaffected.
    expect((await pushImageAs(app(), undefined, 'locked/app', 'next')).response.statusCode).toBe(
      201,
    );

    await patch('/acr/v1/locked/app/_tags/stable', { writeEnabled: true });
    expect((await pushImageAs(app(), undefined, 'locked/app', 'stable')).response.statusCode).toBe(
      201,
    );
  });

  it('locks a repository against reads, writes and deletes, and hides unlisted items', async () => {
    await pushImage(app(), 'vault/app', 'v1');
    await patch('/acr/v1/vault/app', { readEnabled: false });
    expect((await getManifest(app(), app().ownerAuth, 'vault/app', 'v1')).statusCode).toBe(405);
    await patch('/acr/v1/vault/app', { readEnabled: true, writeEnabled: false });
    expect((await getManifest(app(), app().ownerAuth, 'vault/app', 'v1')).statusCode).toBe(200);
    expect((await pushImageAs(app(), undefined, 'vault/app', 'v2')).response.statusCode).toBe(405);
    expect((await app().request({ method: 'DELETE', url: '/acr/v1/vault/app' })).statusCode).toBe(
      405,
    );

    await patch('/acr/v1/vault/app', { writeEnabled: true, listEnabled: false });
    const catalog = json<{ repositories: string[] }>(
      await app().request({ method: 'GET', url: '/v2/_catalog' }),
    );
    expect(catalog.repositories).not.toContain('vault/app');
    await patch('/acr/v1/vault/app/_tags/v1', { listEnabled: false });
    const tags = json<{ tags: string[] }>(
      await app().request({ method: 'GET', url: '/v2/vault/app/tags/list' }),
    );
    expect(tags.tags).not.toContain('v1');

    const deleted = await app().request({ method: 'DELETE', url: '/acr/v1/vault/app' });
    expect(deleted.statusCode).toBe(202);
    expect(
      json<{ manifestsDeleted: string[]; tagsDeleted: string[] }>(deleted).tagsDeleted,
    ).toEqual(['v1']);
    expect((await app().request({ method: 'GET', url: '/acr/v1/vault/app' })).statusCode).toBe(404);
  });

  it('passes the access decision: no credentials, no metadata', async () => {
    const response = await app().request({ method: 'GET', url: '/acr/v1/meta/app', auth: false });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toContain(
      'scope="repository:meta/app:metadata_read"',
    );
  });

  it('refuses bad input with 4xx', async () => {
    expect(
      (await patch('/acr/v1/meta/app', { writeEnabled: 'no' as unknown as boolean })).statusCode,
    ).toBe(400);
    expect(
      (await app().request({ method: 'GET', url: '/acr/v1/meta/app/_manifests/sha256:bad' }))
        .statusCode,
    ).toBe(400);
    expect((await app().request({ method: 'GET', url: '/acr/v1/Bad..Name' })).statusCode).toBe(400);
  });
});
