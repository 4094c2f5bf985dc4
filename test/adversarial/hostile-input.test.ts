/**
 * Hostile input against the data plane (issue 12): malformed, oversized and deeply nested
 * manifests, unknown digest algorithms, bad Content-Range / Content-Length / Range, path
 * traversal and odd unicode in names, tags and references, header injection, and a fast-check
 * fuzz over all of them. Every answer must be a client error in OCI form (never a 5xx), and
 * nothing may land outside the data directory's own stores.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestApp,
  errorCode,
  makeImage,
  OCI_MANIFEST,
  pushBlob,
  randomBlob,
  sha256,
  type TestApp,
} from '../support/app.js';

let app: TestApp;
let image: { manifest: Buffer; digest: string; layers: string[]; config: string };
let blob: { bytes: Buffer; digest: string };

beforeAll(async () => {
  app = await createTestApp({ maxManifestBytes: 64 * 1024 });
  image = await makeImage(app, 'hostile/app');
  const put = await app.request({
    method: 'PUT',
    url: '/v2/hostile/app/manifests/v1',
    headers: { 'content-type': OCI_MANIFEST },
    payload: image.manifest,
  });
  expect(put.statusCode).toBe(201);
  blob = randomBlob(4096);
  await pushBlob(app, 'hostile/app', blob.bytes);
});
afterAll(async () => {
  await app.close();
});

/** A client error in OCI form: 4xx with `{"errors":[{code,message}]}` (HEAD: no body). */
function expectClientError(response: LightMyRequestResponse, method = 'GET'): void {
  expect(response.statusCode, response.body).toBeGreaterThanOrEqual(400);
  expect(response.statusCode, response.body).toBeLessThan(500);
  if (method !== 'HEAD') expect(errorCode(response)).toMatch(/^[A-Z_]+$/);
}

function putManifest(payload: string | Buffer, reference = 'hostile', contentType = OCI_MANIFEST) {
  return app.request({
    method: 'PUT',
    url: `/v2/hostile/app/manifests/${reference}`,
    headers: { 'content-type': contentType },
    payload,
  });
}

describe('hostile manifests', () => {
  const valid = () => JSON.parse(image.manifest.toString()) as Record<string, unknown>;
  it.each([
    ['not JSON', () => '{"schemaVersion": 2,'],
    ['JSON null', () => 'null'],
    ['a JSON array', () => '[]'],
    ['a string', () => '"manifest"'],
    ['no schemaVersion', () => JSON.stringify({ ...valid(), schemaVersion: undefined })],
    ['schemaVersion 1e308', () => JSON.stringify({ ...valid(), schemaVersion: 1e308 })],
    ['layers not an array', () => JSON.stringify({ ...valid(), layers: 'everything' })],
    ['a layer that is null', () => JSON.stringify({ ...valid(), layers: [null] })],
    ['config null', () => JSON.stringify({ ...valid(), config: null })],
    [
      'negative size',
      () => JSON.stringify({ ...valid(), config: { ...(valid().config as object), size: -1 } }),
    ],
    [
      'size beyond 2^53',
      () =>
        JSON.stringify({ ...valid(), config: { ...(valid().config as object), size: 2 ** 60 } }),
    ],
    [
      'unknown digest algorithm',
      () =>
        JSON.stringify({
          ...valid(),
          config: { ...(valid().config as object), digest: `md5:${'a'.repeat(32)}` },
        }),
    ],
    [
      'digest with traversal',
      () =>
        JSON.stringify({
          ...valid(),
          config: { ...(valid().config as object), digest: 'sha256:../../../../etc/passwd' },
        }),
    ],
    [
      'a layer that does not exist',
      () =>
        JSON.stringify({
          ...valid(),
          layers: [
            {
              mediaType: 'application/vnd.oci.image.layer.v1.tar',
              digest: sha256('nothing'),
              size: 7,
            },
          ],
        }),
    ],
    [
      '10,000 missing layers',
      () =>
        JSON.stringify({
          ...valid(),
          layers: Array.from({ length: 10_000 }, (_, i) => ({
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: sha256(String(i)),
            size: 1,
          })),
        }),
    ],
    [
      'a __proto__ key',
      () => `{"__proto__":{"polluted":true},"schemaVersion":2,"mediaType":"${OCI_MANIFEST}"}`,
    ],
  ])('refuses a manifest with %s as a client error', async (_label, payload) => {
    const response = await putManifest(payload());
    expectClientError(response);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses deeply nested JSON without blowing the stack', async () => {
    for (const depth of [1_000, 100_000]) {
      const nested = `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","annotations":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const response = await putManifest(nested);
      expectClientError(response);
    }
    // The server still serves.
    expect((await app.request({ method: 'GET', url: '/v2/' })).statusCode).toBe(200);
  });

  it('refuses an oversized manifest with 413 before reading it all', async () => {
    const big = JSON.stringify({ ...valid(), annotations: { pad: 'x'.repeat(200 * 1024) } });
    const response = await putManifest(big);
    expect(response.statusCode).toBe(413);
    expect(errorCode(response)).toBe('SIZE_INVALID');
  });

  it('refuses a manifest whose media type disagrees with its content type', async () => {
    const response = await putManifest(
      image.manifest,
      'mismatch',
      'application/vnd.oci.image.index.v1+json',
    );
    expectClientError(response);
  });

  it('refuses a manifest pushed by a digest it does not have', async () => {
    const response = await putManifest(image.manifest, sha256('something else'));
    expectClientError(response);
    expect(errorCode(response)).toBe('DIGEST_INVALID');
  });
});

describe('digests, ranges and lengths', () => {
  it.each([
    `md5:${'a'.repeat(32)}`,
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'a'.repeat(63)}`,
    `sha512:${'a'.repeat(64)}`,
    'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564',
    'sha256:',
    ':abc',
    `sha256:${'a'.repeat(100_000)}`,
  ])('refuses blob digest %s with a 4xx on GET, HEAD, DELETE and upload', async (digest) => {
    const path = `/v2/hostile/app/blobs/${encodeURIComponent(digest)}`;
    for (const method of ['GET', 'HEAD', 'DELETE'] as const) {
      expectClientError(await app.request({ method, url: path }), method);
    }
    const upload = await app.request({
      method: 'POST',
      url: `/v2/hostile/app/blobs/uploads/?digest=${encodeURIComponent(digest)}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: 'bytes',
    });
    expectClientError(upload);
    const mount = await app.request({
      method: 'POST',
      url: `/v2/hostile/app/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=hostile/app`,
    });
    // A mount that cannot happen falls back to a new upload session (spec); never a 5xx.
    expect(mount.statusCode).toBeLessThan(500);
  });

  it.each([
    'bytes=100-50',
    'bytes=-0',
    'bytes=0-99999999999999999999999',
    'bytes=99999999-',
    'bytes=0-1,3-4',
    'items=0-1',
    'bytes=--1',
    'bytes=a-b',
    'bytes=0-1\r\nX-Injected: yes',
  ])('answers Range %j with the blob, a slice or 416, never a 5xx', async (range) => {
    const response = await app.request({
      method: 'GET',
      url: `/v2/hostile/app/blobs/${blob.digest}`,
      headers: { range },
    });
    expect([200, 206, 416]).toContain(response.statusCode);
    if (response.statusCode === 200) expect(response.rawPayload.equals(blob.bytes)).toBe(true);
    if (response.statusCode === 206) {
      const [start, end] = /bytes (\d+)-(\d+)\//
        .exec(String(response.headers['content-range']))!
        .slice(1)
        .map(Number);
      expect(response.rawPayload.equals(blob.bytes.subarray(start!, end! + 1))).toBe(true);
    }
    expect(response.headers['x-injected']).toBeUndefined();
  });

  it.each([
    ['backwards', '10-5'],
    ['not numbers', 'a-b'],
    ['beyond 2^53', '0-99999999999999999999'],
    ['a gap', '100-104'],
    ['negative', '-5-4'],
    ['garbage', 'bytes */*'],
  ])('refuses an upload chunk with a %s Content-Range', async (_label, contentRange) => {
    const start = await app.request({ method: 'POST', url: '/v2/hostile/app/blobs/uploads/' });
    expect(start.statusCode).toBe(202);
    const location = String(start.headers.location);
    const response = await app.request({
      method: 'PATCH',
      url: location,
      headers: { 'content-type': 'application/octet-stream', 'content-range': contentRange },
      payload: 'hello',
    });
    expectClientError(response);
  });

  it('refuses a chunk whose Content-Length disagrees with its Content-Range', async () => {
    const start = await app.request({ method: 'POST', url: '/v2/hostile/app/blobs/uploads/' });
    const response = await app.request({
      method: 'PATCH',
      url: String(start.headers.location),
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': '0-9',
        'content-length': '5',
      },
      payload: 'hello',
    });
    expectClientError(response);
  });

  it('refuses to complete an upload whose bytes do not match the digest, and keeps nothing', async () => {
    const start = await app.request({ method: 'POST', url: '/v2/hostile/app/blobs/uploads/' });
    const wrong = sha256('not these bytes');
    const response = await app.request({
      method: 'PUT',
      url: `${String(start.headers.location)}${String(start.headers.location).includes('?') ? '&' : '?'}digest=${wrong}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: 'these bytes',
    });
    expectClientError(response);
    expect(errorCode(response)).toBe('DIGEST_INVALID');
    const head = await app.request({ method: 'HEAD', url: `/v2/hostile/app/blobs/${wrong}` });
    expect(head.statusCode).toBe(404);
  });
});

describe('names, tags, references and upload ids', () => {
  it.each([
    '/v2/../../etc/passwd/manifests/latest',
    '/v2/hostile/../../../etc/manifests/latest',
    '/v2/%2e%2e/%2e%2e/etc/manifests/latest',
    '/v2/hostile%2F..%2F..%2Fetc/manifests/latest',
    '/v2/hostile/app/manifests/..%2F..%2F..%2Fetc%2Fpasswd',
    '/v2/hostile/app/manifests/%00',
    '/v2/hostile/app/manifests/v1%0d%0aX-Injected:%20yes',
    '/v2/hostile/app/blobs/uploads/..%2F..%2Fkeys',
    '/v2/hostile/app/blobs/uploads/../../../keys',
    '/v2/hostile/app/blobs/uploads/%2e%2e',
    '/v2/Hostile/App/manifests/v1',
    '/v2/hostile/\u00e9t\u00e9/manifests/v1',
    '/v2/hostile/%E2%80%AEppa/manifests/v1',
    '/v2/hostile/%EF%BD%81pp/manifests/v1',
    '/v2/hostile/app/manifests/%F0%9F%92%A5',
    '/v2/hostile/app/manifests/%E0%A4%A',
    `/v2/${'a/'.repeat(200)}manifests/v1`,
    `/v2/hostile/app/manifests/${'t'.repeat(129)}`,
    `/v2/${'a'.repeat(10_000)}/manifests/v1`,
    '/v2/hostile/app/tags/list?n=-1',
    '/v2/hostile/app/tags/list?n=99999999999999999999',
    '/v2/hostile/app/tags/list?last=%00',
    '/v2/_catalog?n=abc',
    '/acr/v1/hostile/app/_tags/%E0%A4%A',
    '/acr/v1/hostile/app/_manifests/md5:abc',
    '/acr/v1/..%2F..%2Fetc/_tags',
  ])('answers %s with a client error and no injected header', async (url) => {
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE'] as const) {
      const response = await app.request({
        method,
        url,
        ...(method === 'PUT' || method === 'PATCH'
          ? { headers: { 'content-type': 'application/octet-stream' }, payload: 'x' }
          : {}),
      });
      if (method === 'GET' && url.includes('tags/list')) {
        expect(response.statusCode).toBeLessThan(500);
      } else {
        expectClientError(response, method);
      }
      expect(response.headers['x-injected']).toBeUndefined();
    }
    // Nothing was written beside the data directory's own stores.
    expect(readdirSync(app.dataDir).sort()).toEqual(dataDirEntries);
  });

  let dataDirEntries: string[];
  beforeAll(() => {
    dataDirEntries = readdirSync(app.dataDir).sort();
    expect(dataDirEntries).toContain('storage');
    expect(readdirSync(join(app.dataDir, 'storage')).length).toBeGreaterThan(0);
  });
});

describe('a fuzzed client', () => {
  const pieces = fc.constantFrom(
    'hostile',
    'app',
    '..',
    '.',
    '%2e%2e',
    '%2F',
    '%00',
    '%0d%0a',
    '\u00e9',
    '%E2%80%AE',
    'manifests',
    'blobs',
    'uploads',
    'tags',
    'list',
    'referrers',
    '_catalog',
    'v1',
    'latest',
    `sha256:${'a'.repeat(64)}`,
    'sha256:',
    `md5:${'0'.repeat(32)}`,
    'A'.repeat(300),
    '',
    ' ',
    '~',
    '%',
    '%%',
    '?n=-1',
    '?last=',
    '?digest=sha256:0',
    '?mount=sha256:0&from=..',
  );
  const headerValue = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.constantFrom(
      'bytes=0-',
      'bytes=-1',
      '0-0',
      '-1',
      '99999999999999999999',
      'application/vnd.oci.image.index.v1+json',
      OCI_MANIFEST,
      'Basic Og==',
      'Bearer a.b.c',
      'Bearer ..',
      'Basic !!!',
    ),
  );

  it('never gets a 5xx whatever the method, path, headers and body', async () => {
    const statuses = new Map<number, number>();
    let skipped = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'GET',
          'HEAD',
          'POST',
          'PUT',
          'PATCH',
          'DELETE',
          'OPTIONS',
        ) as fc.Arbitrary<'GET'>,
        fc.oneof(fc.constant('/v2'), fc.constant('/acr/v1'), fc.constant('/oauth2')),
        fc.array(pieces, { maxLength: 7 }),
        fc.record(
          {
            range: headerValue,
            'content-range': headerValue,
            'content-type': headerValue,
            authorization: headerValue,
            accept: headerValue,
          },
          { requiredKeys: [] },
        ),
        fc.oneof(
          fc.constant(undefined),
          fc.string({ maxLength: 200 }),
          fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
        ),
        async (method, root, segments, headers, body) => {
          const url = `${root}/${segments.join('/')}`;
          const clean = Object.fromEntries(
            Object.entries(headers).filter(([, v]) => /^[\t\x20-\x7e]*$/.test(String(v))),
          );
          let response: LightMyRequestResponse;
          try {
            response = await app.request({
              method,
              url,
              headers: clean,
              ...(body !== undefined && method !== 'GET' && method !== 'HEAD'
                ? { payload: body }
                : {}),
            });
          } catch (error) {
            // light-my-request refuses some URLs before they reach the server: not our answer.
            if (error instanceof TypeError || /Invalid URL/i.test(String(error))) {
              skipped += 1;
              return;
            }
            throw error;
          }
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
          expect(
            response.statusCode,
            `${method} ${url} -> ${response.body.slice(0, 200)}`,
          ).toBeLessThan(500);
        },
      ),
      { numRuns: 1500 },
    );
    // The fuzz reached the routes: successes and many kinds of refusal, few requests unsendable.
    expect([...statuses.keys()].filter((s) => s < 300).length).toBeGreaterThan(0);
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThan(4);
    expect(skipped).toBeLessThan(150);
    expect((await app.request({ method: 'GET', url: '/v2/' })).statusCode).toBe(200);
  });
});
