/**
 * The scanner's identity holds exactly what it needs, decided by the one access decision: pull
 * and metadata read on every repository, and writes limited to referrers (its SBOM, pushed by
 * digest with a subject). It may not tag, replace or delete an image, nor change metadata.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACR_AUDIENCE } from '../../src/server/platform.js';
import {
  createTestApp,
  errorCode,
  makeImage,
  OCI_MANIFEST,
  pushBlob,
  TEST_HOST,
  type TestApp,
} from '../support/app.js';

const REPOSITORY = 'perm/app';

describe('the first-party scanner identity', () => {
  let test: TestApp;
  let image: { digest: string; manifest: Buffer };
  let bearer: string;

  /** A registry access token for the scanner, through ACR's exchange like the scanner does. */
  async function scannerToken(scope: string): Promise<string> {
    const { token } = await test.platform.identity.firstPartyToken(
      'scanner',
      'Breakwater vulnerability scanner',
      ACR_AUDIENCE,
    );
    const exchanged = await test.request({
      method: 'POST',
      url: '/oauth2/exchange',
      auth: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'access_token',
        service: TEST_HOST,
        access_token: token,
      }).toString(),
    });
    expect(exchanged.statusCode, exchanged.body).toBe(200);
    const refresh = (JSON.parse(exchanged.body) as { refresh_token: string }).refresh_token;
    const issued = await test.request({
      method: 'POST',
      url: '/oauth2/token',
      auth: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'refresh_token',
        service: TEST_HOST,
        refresh_token: refresh,
        scope,
      }).toString(),
    });
    expect(issued.statusCode, issued.body).toBe(200);
    return (JSON.parse(issued.body) as { access_token: string }).access_token;
  }

  beforeAll(async () => {
    test = await createTestApp();
    const built = await makeImage(test, REPOSITORY);
    image = built;
    const pushed = await test.request({
      method: 'PUT',
      url: `/v2/${REPOSITORY}/manifests/v1`,
      headers: { 'content-type': OCI_MANIFEST },
      payload: built.manifest,
    });
    expect(pushed.statusCode).toBe(201);
    bearer = `Bearer ${await scannerToken(`repository:${REPOSITORY}:pull,push,delete,metadata_read,metadata_write`)}`;
  });

  afterAll(async () => {
    await test?.close();
  });

  it('pulls manifests and blobs and reads metadata', async () => {
    const manifest = await test.request({
      method: 'GET',
      url: `/v2/${REPOSITORY}/manifests/v1`,
      auth: bearer,
      headers: { accept: OCI_MANIFEST },
    });
    expect(manifest.statusCode).toBe(200);
    const tags = await test.request({
      method: 'GET',
      url: `/acr/v1/${REPOSITORY}/_tags`,
      auth: bearer,
    });
    expect(tags.statusCode, tags.body).toBe(200);
  });

  it('is granted neither delete nor metadata write', async () => {
    const deleted = await test.request({
      method: 'DELETE',
      url: `/v2/${REPOSITORY}/manifests/${image.digest}`,
      auth: bearer,
    });
    expect(deleted.statusCode).toBe(403);
    expect(errorCode(deleted)).toBe('DENIED');
    const locked = await test.request({
      method: 'PATCH',
      url: `/acr/v1/${REPOSITORY}`,
      auth: bearer,
      headers: { 'content-type': 'application/json' },
      payload: { writeEnabled: false },
    });
    expect(locked.statusCode).toBe(403);
  });

  it('may attach a referrer by digest, but may not tag or replace an image', async () => {
    const empty = await pushBlob(test, REPOSITORY, Buffer.from('{}'));
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/spdx+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
        subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length },
      }),
    );
    const { createHash } = await import('node:crypto');
    const referrerDigest = `sha256:${createHash('sha256').update(referrer).digest('hex')}`;
    const attached = await test.request({
      method: 'PUT',
      url: `/v2/${REPOSITORY}/manifests/${referrerDigest}`,
      auth: bearer,
      headers: { 'content-type': OCI_MANIFEST },
      payload: referrer,
    });
    expect(attached.statusCode, attached.body).toBe(201);

    const tagged = await test.request({
      method: 'PUT',
      url: `/v2/${REPOSITORY}/manifests/sbom`,
      auth: bearer,
      headers: { 'content-type': OCI_MANIFEST },
      payload: referrer,
    });
    expect(tagged.statusCode).toBe(403);
    expect(errorCode(tagged)).toBe('DENIED');

    const other = await makeImage(test, REPOSITORY);
    for (const url of [
      `/v2/${REPOSITORY}/manifests/v1`,
      `/v2/${REPOSITORY}/manifests/${other.digest}`,
    ]) {
      const replaced = await test.request({
        method: 'PUT',
        url,
        auth: bearer,
        headers: { 'content-type': OCI_MANIFEST },
        payload: other.manifest,
      });
      expect(replaced.statusCode, url).toBe(403);
      expect(errorCode(replaced)).toBe('DENIED');
    }
    const still = await test.request({
      method: 'GET',
      url: `/v2/${REPOSITORY}/manifests/v1`,
      headers: { accept: OCI_MANIFEST },
    });
    expect(still.headers['docker-content-digest']).toBe(image.digest);
  });
});
