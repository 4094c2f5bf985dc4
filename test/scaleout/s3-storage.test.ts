/**
 * `breakwater serve --storage s3://<bucket>` against s3rver: a chunked push and a pull go
 * through the S3 driver, and the published blob is an object in the bucket.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { RegistryClient } from '../conformance/http.js';
import { startS3rver, type S3Server } from '../support/s3rver.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

describe('serve with S3 storage', () => {
  let s3: S3Server;
  let server: RunningServer;
  const bucket = `bw-serve-${process.pid}`;

  beforeAll(async () => {
    s3 = await startS3rver();
    server = await startServer({
      extraArgs: ['--storage', `s3://${bucket}`],
      env: { ...s3.env, BREAKWATER_S3_ENDPOINT: s3.endpoint },
    });
  }, 120_000);

  afterAll(async () => {
    if (server) {
      await server.stop();
      removeDataDir(server.dataDir);
    }
    await s3?.stop();
  });

  it('pushes in chunks, pulls back, and keeps the blob in the bucket', async () => {
    const client = new RegistryClient(server.url, {
      username: server.owner.clientId,
      password: server.owner.clientSecret,
    });
    const bytes = randomBytes(7 * 1024 * 1024);
    const digest = sha256(bytes);
    const started = await client.request('POST', '/v2/s3/app/blobs/uploads/');
    expect(started.status).toBe(202);
    let location = started.headers.get('location')!;
    const half = 3 * 1024 * 1024;
    const patched = await client.request('PATCH', location, {
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `0-${half - 1}`,
      },
      body: bytes.subarray(0, half),
    });
    expect(patched.status, patched.body.toString()).toBe(202);
    location = patched.headers.get('location')!;
    const done = await client.request('PUT', location, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes.subarray(half),
      query: { digest },
    });
    expect(done.status, done.body.toString()).toBe(201);

    const pulled = await client.request('GET', `/v2/s3/app/blobs/${digest}`);
    expect(pulled.status).toBe(200);
    expect(pulled.body.equals(bytes)).toBe(true);
    const store = await S3BlobStore.open({
      bucket,
      endpoint: s3.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    expect(await store.stat(digest)).toEqual({ digest, size: bytes.length });
    await store.close();
  });
});
