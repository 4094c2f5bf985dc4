/**
 * @module test/cli/push
 * Pushes a small OCI image straight to a live server's data endpoint (owner credentials), so
 * the CLI tests have repositories, tags and manifests to look at.
 */
import { createHash } from 'node:crypto';
import type { RunningServer } from '../support/server.js';
import { dataRequest } from './cli.js';

const sha256 = (bytes: Buffer | string) =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function pushBlob(server: RunningServer, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const response = await dataRequest(
    `${server.url}/v2/${repository}/blobs/uploads/?digest=${encodeURIComponent(digest)}`,
    {
      method: 'POST',
      headers: { authorization: server.authHeader, 'content-type': 'application/octet-stream' },
      body: bytes,
    },
  );
  if (response.status !== 201) throw new Error(`blob push answered ${response.status}`);
  return digest;
}

/** Pushes a one-layer image tagged `tag`; returns its manifest digest. */
export async function pushImage(
  server: RunningServer,
  repository: string,
  tag: string,
  seed = `${repository}:${tag}`,
): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layer = Buffer.from(`layer of ${seed}`);
  const configDigest = await pushBlob(server, repository, config);
  const layerDigest = await pushBlob(server, repository, layer);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: configDigest,
      size: config.length,
    },
    layers: [
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: layerDigest,
        size: layer.length,
      },
    ],
  });
  const response = await dataRequest(`${server.url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: {
      authorization: server.authHeader,
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
    },
    body: manifest,
  });
  if (response.status !== 201) throw new Error(`manifest push answered ${response.status}`);
  return sha256(manifest);
}
