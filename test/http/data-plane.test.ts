/**
 * HTTP behaviour of the OCI data plane through `inject`: the spec's rules, and the promise that
 * bad input always gets a 4xx with an OCI error body and leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestApp,
  errorCode,
  makeImage,
  OCI_INDEX,
  OCI_MANIFEST,
  pushBlob,
  randomBlob,
  sha256,
  type TestApp,
} from '../support/app.js';

let test: TestApp;
beforeAll(async () => {
  test = await createTestApp();
});
afterAll(async () => {
  await test.close();
});

describe('base and hosts', () => {
  it('answers /v2/ with the API version header', async () => {
    const response = await test.request({ method: 'GET', url: '/v2/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  it('routes by login server and refuses unknown hosts with a clear error', async () => {
    const byLoginServer = await test.request({
      method: 'GET',
      url: '/v2/',
      headers: { host: 'myregistry.azurecr.localhost:5000' },
    });
    expect(byLoginServer.statusCode).toBe(200);
    const unknown = await test.request({
      method: 'GET',
      url: '/v2/',
      headers: { host: 'nobody.example' },
    });
    expect(unknown.statusCode).toBe(404);
    expect(errorCode(unknown)).toBe('REGISTRY_UNKNOWN');
    expect(unknown.body).toContain("no registry is served at host 'nobody.example'");
  });

  it('answers /healthz on any host', async () => {
    const response = await test.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { host: 'x' },
    });
    expect(response.statusCode).toBe(200);
  });
});

describe('blob uploads', () => {
  it('pushes POST then PUT and serves the bytes with ranges', async () => {
    const { bytes, digest } = randomBlob(4096);
    const start = await test.request({ method: 'POST', url: '/v2/up/a/blobs/uploads/' });
    expect(start.statusCode).toBe(202);
    expect(start.headers.range).toBe('0-0');
    const location = start.headers.location as string;
    expect(location).toMatch(/^\/v2\/up\/a\/blobs\/uploads\/[0-9a-f-]+$/);
    expect(start.headers['docker-upload-uuid']).toBe(location.split('/').at(-1));

    const put = await test.request({
      method: 'PUT',
      url: `${location}?digest=${digest}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: bytes,
    });
    expect(put.statusCode).toBe(201);
    expect(put.headers.location).toBe(`/v2/up/a/blobs/${digest}`);
    expect(put.headers['docker-content-digest']).toBe(digest);

    const head = await test.request({ method: 'HEAD', url: `/v2/up/a/blobs/${digest}` });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('4096');
    expect(head.body).toBe('');

    const get = await test.request({ method: 'GET', url: `/v2/up/a/blobs/${digest}` });
    expect(get.rawPayload).toEqual(bytes);

    const range = await test.request({
      method: 'GET',
      url: `/v2/up/a/blobs/${digest}`,
      headers: { range: 'bytes=10-19' },
    });
    expect(range.statusCode).toBe(206);
    expect(range.headers['content-range']).toBe('bytes 10-19/4096');
    expect(range.rawPayload).toEqual(bytes.subarray(10, 20));

    const suffix = await test.request({
      method: 'GET',
      url: `/v2/up/a/blobs/${digest}`,
      headers: { range: 'bytes=-5' },
    });
    expect(suffix.rawPayload).toEqual(bytes.subarray(4091));

    const beyond = await test.request({
      method: 'GET',
      url: `/v2/up/a/blobs/${digest}`,
      headers: { range: 'bytes=5000-6000' },
    });
    expect(beyond.statusCode).toBe(416);
    expect(beyond.headers['content-range']).toBe('bytes */4096');
  });

  it('takes chunks in order, reports status, and refuses out-of-order or repeated chunks', async () => {
    const { bytes, digest } = randomBlob(3000);
    const start = await test.request({ method: 'POST', url: '/v2/chunked/blobs/uploads/' });
    const location = start.headers.location as string;
    const chunk = (from: number, to: number) =>
      test.request({
        method: 'PATCH',
        url: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${from}-${to - 1}`,
        },
        payload: bytes.subarray(from, to),
      });

    const first = await chunk(0, 1000);
    expect(first.statusCode).toBe(202);
    expect(first.headers.range).toBe('0-999');
    expect(first.headers.location).toBe(location);

    const repeated = await chunk(0, 1000);
    expect(repeated.statusCode).toBe(416);
    expect(repeated.headers.range).toBe('0-999');
    const skipped = await chunk(2000, 3000);
    expect(skipped.statusCode).toBe(416);

    const status = await test.request({ method: 'GET', url: location });
    expect(status.statusCode).toBe(204);
    expect(status.headers.range).toBe('0-999');

    expect((await chunk(1000, 2000)).statusCode).toBe(202);
    // The last chunk may come with the closing PUT.
    const put = await test.request({
      method: 'PUT',
      url: `${location}?digest=${digest}`,
      headers: { 'content-type': 'application/octet-stream', 'content-range': '2000-2999' },
      payload: bytes.subarray(2000),
    });
    expect(put.statusCode).toBe(201);
    const get = await test.request({ method: 'GET', url: `/v2/chunked/blobs/${digest}` });
    expect(get.rawPayload).toEqual(bytes);
    // The session is gone once the blob is published.
    expect((await test.request({ method: 'GET', url: location })).statusCode).toBe(404);
  });

  it('streams a PATCH without Content-Range onto the end', async () => {
    const { bytes, digest } = randomBlob(2048);
    const location = (await test.request({ method: 'POST', url: '/v2/streamed/blobs/uploads/' }))
      .headers.location as string;
    const patch = await test.request({ method: 'PATCH', url: location, payload: bytes });
    expect(patch.statusCode).toBe(202);
    expect(patch.headers.range).toBe('0-2047');
    const put = await test.request({ method: 'PUT', url: `${location}?digest=${digest}` });
    expect(put.statusCode).toBe(201);
  });

  it('refuses a wrong digest with DIGEST_INVALID and keeps nothing', async () => {
    const { bytes } = randomBlob(100);
    const claimed = sha256('not these bytes');
    const response = await test.request({
      method: 'POST',
      url: `/v2/bad/blobs/uploads/?digest=${claimed}`,
      payload: bytes,
    });
    expect(response.statusCode).toBe(400);
    expect(errorCode(response)).toBe('DIGEST_INVALID');
    const head = await test.request({ method: 'HEAD', url: `/v2/bad/blobs/${claimed}` });
    expect(head.statusCode).toBe(404);
    const head2 = await test.request({ method: 'HEAD', url: `/v2/bad/blobs/${sha256(bytes)}` });
    expect(head2.statusCode).toBe(404);
    expect(readdirSync(join(test.dataDir, 'storage', 'uploads'))).toEqual([]);
  });

  it('cancels uploads', async () => {
    const location = (await test.request({ method: 'POST', url: '/v2/cancel/blobs/uploads/' }))
      .headers.location as string;
    expect((await test.request({ method: 'DELETE', url: location })).statusCode).toBe(204);
    const again = await test.request({ method: 'DELETE', url: location });
    expect(again.statusCode).toBe(404);
    expect(errorCode(again)).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('does not let one repository use another repository’s upload session', async () => {
    const location = (await test.request({ method: 'POST', url: '/v2/owner/blobs/uploads/' }))
      .headers.location as string;
    const id = location.split('/').at(-1);
    const response = await test.request({ method: 'GET', url: `/v2/thief/blobs/uploads/${id}` });
    expect(response.statusCode).toBe(404);
    expect(errorCode(response)).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('mounts from a named repository, automatically without from, and falls back to an upload', async () => {
    const digest = await pushBlob(test, 'mount/source', randomBytes(300));
    const named = await test.request({
      method: 'POST',
      url: `/v2/mount/target1/blobs/uploads/?mount=${digest}&from=mount/source`,
    });
    expect(named.statusCode).toBe(201);
    expect(named.headers.location).toBe(`/v2/mount/target1/blobs/${digest}`);

    const automatic = await test.request({
      method: 'POST',
      url: `/v2/mount/target2/blobs/uploads/?mount=${digest}`,
    });
    expect(automatic.statusCode).toBe(201);

    const unknown = await test.request({
      method: 'POST',
      url: `/v2/mount/target3/blobs/uploads/?mount=${sha256('absent')}&from=mount/source`,
    });
    expect(unknown.statusCode).toBe(202);
    expect(unknown.headers.location).toMatch(/\/blobs\/uploads\//);
  });

  it('deletes a blob from one repository only', async () => {
    const bytes = randomBytes(64);
    const digest = await pushBlob(test, 'del/one', bytes);
    await pushBlob(test, 'del/two', bytes);
    expect(
      (await test.request({ method: 'DELETE', url: `/v2/del/one/blobs/${digest}` })).statusCode,
    ).toBe(202);
    expect(
      (await test.request({ method: 'HEAD', url: `/v2/del/one/blobs/${digest}` })).statusCode,
    ).toBe(404);
    expect(
      (await test.request({ method: 'HEAD', url: `/v2/del/two/blobs/${digest}` })).statusCode,
    ).toBe(200);
  });
});

describe('manifests', () => {
  it('stores bytes and media type exactly as pushed, by tag and by digest', async () => {
    const image = await makeImage(test, 'img/app');
    // Unusual whitespace must survive byte for byte.
    const pretty = Buffer.from(JSON.stringify(JSON.parse(image.manifest.toString()), null, 3));
    const put = await test.request({
      method: 'PUT',
      url: '/v2/img/app/manifests/v1',
      headers: { 'content-type': OCI_MANIFEST },
      payload: pretty,
    });
    expect(put.statusCode).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(sha256(pretty));
    expect(put.headers.location).toBe(`/v2/img/app/manifests/${sha256(pretty)}`);

    for (const reference of ['v1', sha256(pretty)]) {
      const get = await test.request({ method: 'GET', url: `/v2/img/app/manifests/${reference}` });
      expect(get.statusCode).toBe(200);
      expect(get.rawPayload).toEqual(pretty);
      expect(get.headers['content-type']).toBe(OCI_MANIFEST);
      expect(get.headers['docker-content-digest']).toBe(sha256(pretty));
    }
    const head = await test.request({ method: 'HEAD', url: '/v2/img/app/manifests/v1' });
    expect(head.headers['content-length']).toBe(String(pretty.length));

    const byDigest = await test.request({
      method: 'PUT',
      url: `/v2/img/app/manifests/${image.digest}`,
      headers: { 'content-type': OCI_MANIFEST },
      payload: image.manifest,
    });
    expect(byDigest.statusCode).toBe(201);
  });

  it('answers a push only after its commit is synced to disk', async () => {
    const image = await makeImage(test, 'img/durable');
    const metadata = test.platform.metadata;
    const events: string[] = [];
    const sync = metadata.syncCommits.bind(metadata);
    metadata.syncCommits = async () => {
      events.push(metadata.hasUnsyncedCommits() ? 'sync of a pending commit' : 'sync');
      await sync();
    };
    try {
      const put = await test.request({
        method: 'PUT',
        url: '/v2/img/durable/manifests/v1',
        headers: { 'content-type': OCI_MANIFEST },
        payload: image.manifest,
      });
      expect(put.statusCode).toBe(201);
      expect(events).toContain('sync of a pending commit');
    } finally {
      metadata.syncCommits = sync;
    }
  });

  it('refuses manifests whose blobs are missing, and digest mismatches', async () => {
    const image = await makeImage(test, 'img/first');
    const elsewhere = await test.request({
      method: 'PUT',
      url: '/v2/img/elsewhere/manifests/v1',
      headers: { 'content-type': OCI_MANIFEST },
      payload: image.manifest,
    });
    expect(elsewhere.statusCode).toBe(400);
    expect(errorCode(elsewhere)).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(
      (await test.request({ method: 'GET', url: '/v2/img/elsewhere/tags/list' })).statusCode,
    ).toBe(404);

    const mismatch = await test.request({
      method: 'PUT',
      url: `/v2/img/first/manifests/${sha256('other')}`,
      headers: { 'content-type': OCI_MANIFEST },
      payload: image.manifest,
    });
    expect(mismatch.statusCode).toBe(400);
    expect(errorCode(mismatch)).toBe('DIGEST_INVALID');
  });

  it.each([
    ['not JSON', 'nope{', OCI_MANIFEST],
    ['an array', '[]', OCI_MANIFEST],
    [
      'no config',
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }),
      OCI_MANIFEST,
    ],
    [
      'a bad digest',
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: 'x', digest: 'sha256:zz', size: 1 },
        layers: [],
      }),
      OCI_MANIFEST,
    ],
    [
      'a negative size',
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: 'x', digest: sha256('a'), size: -1 },
        layers: [],
      }),
      OCI_MANIFEST,
    ],
    [
      'mismatched mediaType',
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }),
      OCI_MANIFEST,
    ],
    [
      'schema 1',
      JSON.stringify({ schemaVersion: 1 }),
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
    ],
    ['an unknown type', '{}', 'text/plain'],
  ])('refuses a manifest with %s as MANIFEST_INVALID', async (_name, body, type) => {
    const response = await test.request({
      method: 'PUT',
      url: '/v2/img/invalid/manifests/v1',
      headers: { 'content-type': type },
      payload: body,
    });
    expect(response.statusCode).toBe(400);
    expect(errorCode(response)).toBe('MANIFEST_INVALID');
  });

  it('refuses an oversized manifest with 413 before reading it whole', async () => {
    const small = await createTestApp({ maxManifestBytes: 1024 });
    try {
      const response = await small.request({
        method: 'PUT',
        url: '/v2/big/manifests/v1',
        headers: { 'content-type': OCI_MANIFEST },
        payload: Buffer.alloc(4096, 32),
      });
      expect(response.statusCode).toBe(413);
      expect(errorCode(response)).toBe('SIZE_INVALID');
    } finally {
      await small.close();
    }
  });

  it('stores an index only when its children exist', async () => {
    const image = await makeImage(test, 'img/multi');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: image.digest,
            size: image.manifest.length,
            platform: { architecture: 'amd64', os: 'linux' },
          },
        ],
      }),
    );
    const early = await test.request({
      method: 'PUT',
      url: '/v2/img/multi/manifests/all',
      headers: { 'content-type': OCI_INDEX },
      payload: index,
    });
    expect(errorCode(early)).toBe('MANIFEST_BLOB_UNKNOWN');
    await test.request({
      method: 'PUT',
      url: `/v2/img/multi/manifests/${image.digest}`,
      headers: { 'content-type': OCI_MANIFEST },
      payload: image.manifest,
    });
    const late = await test.request({
      method: 'PUT',
      url: '/v2/img/multi/manifests/all',
      headers: { 'content-type': OCI_INDEX },
      payload: index,
    });
    expect(late.statusCode).toBe(201);
  });

  it('accepts Docker schema 2 manifests and manifest lists', async () => {
    const image = await makeImage(test, 'img/docker');
    const parsed = JSON.parse(image.manifest.toString()) as Record<string, unknown>;
    const docker = Buffer.from(
      JSON.stringify({
        ...parsed,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      }),
    );
    const put = await test.request({
      method: 'PUT',
      url: '/v2/img/docker/manifests/v2',
      headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' },
      payload: docker,
    });
    expect(put.statusCode).toBe(201);
    const get = await test.request({ method: 'GET', url: '/v2/img/docker/manifests/v2' });
    expect(get.headers['content-type']).toBe(
      'application/vnd.docker.distribution.manifest.v2+json',
    );
  });

  it('deletes a tag alone, or a manifest with all its tags', async () => {
    const image = await makeImage(test, 'img/del');
    for (const tag of ['a', 'b']) {
      await test.request({
        method: 'PUT',
        url: `/v2/img/del/manifests/${tag}`,
        headers: { 'content-type': OCI_MANIFEST },
        payload: image.manifest,
      });
    }
    expect(
      (await test.request({ method: 'DELETE', url: '/v2/img/del/manifests/a' })).statusCode,
    ).toBe(202);
    expect((await test.request({ method: 'GET', url: '/v2/img/del/manifests/a' })).statusCode).toBe(
      404,
    );
    expect((await test.request({ method: 'GET', url: '/v2/img/del/manifests/b' })).statusCode).toBe(
      200,
    );
    expect(
      (await test.request({ method: 'DELETE', url: `/v2/img/del/manifests/${image.digest}` }))
        .statusCode,
    ).toBe(202);
    const gone = await test.request({ method: 'GET', url: '/v2/img/del/manifests/b' });
    expect(gone.statusCode).toBe(404);
    expect(errorCode(gone)).toBe('MANIFEST_UNKNOWN');
  });
});

describe('referrers', () => {
  it('lists manifests by subject with artifactType filtering and OCI-Subject on push', async () => {
    const image = await makeImage(test, 'ref/app');
    await test.request({
      method: 'PUT',
      url: '/v2/ref/app/manifests/v1',
      headers: { 'content-type': OCI_MANIFEST },
      payload: image.manifest,
    });
    const subject = { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length };
    const signature = await makeImage(test, 'ref/app', {
      layerCount: 1,
      subject,
      artifactType: 'application/vnd.example.signature',
    });
    const sbom = await makeImage(test, 'ref/app', {
      layerCount: 1,
      subject,
      artifactType: 'application/spdx+json',
    });
    for (const artifact of [signature, sbom]) {
      const put = await test.request({
        method: 'PUT',
        url: `/v2/ref/app/manifests/${artifact.digest}`,
        headers: { 'content-type': OCI_MANIFEST },
        payload: artifact.manifest,
      });
      expect(put.statusCode).toBe(201);
      expect(put.headers['oci-subject']).toBe(image.digest);
    }
    const all = await test.request({ method: 'GET', url: `/v2/ref/app/referrers/${image.digest}` });
    expect(all.statusCode).toBe(200);
    expect(all.headers['content-type']).toBe(OCI_INDEX);
    const index = JSON.parse(all.body) as { manifests: { digest: string; artifactType: string }[] };
    expect(index.manifests.map((m) => m.digest).sort()).toEqual(
      [signature.digest, sbom.digest].sort(),
    );
    expect(all.headers['oci-filters-applied']).toBeUndefined();

    const filtered = await test.request({
      method: 'GET',
      url: `/v2/ref/app/referrers/${image.digest}?artifactType=application/spdx%2Bjson`,
    });
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect((JSON.parse(filtered.body) as { manifests: unknown[] }).manifests).toEqual([
      {
        mediaType: OCI_MANIFEST,
        digest: sbom.digest,
        size: sbom.manifest.length,
        artifactType: 'application/spdx+json',
      },
    ]);

    const none = await test.request({
      method: 'GET',
      url: `/v2/ref/app/referrers/${sha256('nothing')}`,
    });
    expect(none.statusCode).toBe(200);
    expect((JSON.parse(none.body) as { manifests: unknown[] }).manifests).toEqual([]);
  });
});

describe('listing', () => {
  it('paginates tags with n, last and Link', async () => {
    const image = await makeImage(test, 'list/tags');
    for (const tag of ['c', 'a', 'b', 'd']) {
      await test.request({
        method: 'PUT',
        url: `/v2/list/tags/manifests/${tag}`,
        headers: { 'content-type': OCI_MANIFEST },
        payload: image.manifest,
      });
    }
    const all = await test.request({ method: 'GET', url: '/v2/list/tags/tags/list' });
    expect(JSON.parse(all.body)).toEqual({ name: 'list/tags', tags: ['a', 'b', 'c', 'd'] });
    const page = await test.request({ method: 'GET', url: '/v2/list/tags/tags/list?n=2' });
    expect(JSON.parse(page.body).tags).toEqual(['a', 'b']);
    expect(page.headers.link).toBe('</v2/list/tags/tags/list?n=2&last=b>; rel="next"');
    const next = await test.request({ method: 'GET', url: '/v2/list/tags/tags/list?n=2&last=b' });
    expect(JSON.parse(next.body).tags).toEqual(['c', 'd']);
    expect(next.headers.link).toBeUndefined();
    const bad = await test.request({ method: 'GET', url: '/v2/list/tags/tags/list?n=-1' });
    expect(bad.statusCode).toBe(400);
    expect(errorCode(bad)).toBe('PAGINATION_NUMBER_INVALID');
  });

  it('lists the catalog with the same pagination', async () => {
    const catalog = await test.request({ method: 'GET', url: '/v2/_catalog?n=1' });
    expect(catalog.statusCode).toBe(200);
    const body = JSON.parse(catalog.body) as { repositories: string[] };
    expect(body.repositories).toHaveLength(1);
    expect(catalog.headers.link).toMatch(/^<\/v2\/_catalog\?n=1&last=[^>]+>; rel="next"$/);
  });
});

describe('hostile input never produces a 5xx', () => {
  it.each([
    ['GET', '/v2/UPPER/tags/list', 'NAME_INVALID'],
    ['GET', '/v2/a/manifests/sha256:short', 'DIGEST_INVALID'],
    ['GET', '/v2/a/manifests/md5:0123', 'DIGEST_INVALID'],
    ['GET', '/v2/a/manifests/bad%tag', 'NAME_INVALID'],
    ['GET', '/v2/a/blobs/notadigest', 'DIGEST_INVALID'],
    ['GET', '/v2/a/blobs/uploads/..%2F..%2Fetc', 'BLOB_UPLOAD_UNKNOWN'],
    ['GET', '/v2/../../etc/passwd/tags/list', 'NAME_UNKNOWN'],
    ['PATCH', '/v2/a/manifests/latest', 'UNSUPPORTED'],
    [
      'PUT',
      '/v2/a/blobs/uploads/00000000-0000-0000-0000-000000000000?digest=sha256:00',
      'BLOB_UPLOAD_UNKNOWN',
    ],
    ['GET', '/v2/a/referrers/sha256:bad', 'DIGEST_INVALID'],
    ['GET', `/v2/${'a'.repeat(300)}/tags/list`, 'NAME_INVALID'],
    ['GET', '/v2/nothing/here', 'NAME_INVALID'],
  ])('%s %s -> %s', async (method, url, code) => {
    const response = await test.request({ method: method as 'GET', url });
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expect(errorCode(response)).toBe(code);
  });

  it('refuses a bad Content-Range on a chunk with 416', async () => {
    const location = (await test.request({ method: 'POST', url: '/v2/hostile/blobs/uploads/' }))
      .headers.location as string;
    const response = await test.request({
      method: 'PATCH',
      url: location,
      headers: { 'content-range': 'bytes=zz' },
      payload: 'x',
    });
    expect(response.statusCode).toBe(416);
  });

  it('requires the digest parameter to close an upload', async () => {
    const location = (await test.request({ method: 'POST', url: '/v2/hostile/blobs/uploads/' }))
      .headers.location as string;
    const response = await test.request({ method: 'PUT', url: location });
    expect(response.statusCode).toBe(400);
    expect(errorCode(response)).toBe('DIGEST_INVALID');
  });
});
