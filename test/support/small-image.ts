/**
 * @module test/support/small-image
 * Pushes a one-layer OCI image over plain HTTP with the owner's credentials: the smallest real
 * image a test can pull back, byte for byte, through another door or replica.
 */
import { createHash } from 'node:crypto';
import type { RunningServer } from './server.js';

export interface SmallImage {
  /** The manifest exactly as pushed (and as a pull must return it). */
  manifest: string;
  /** The config blob's digest and bytes. */
  config: string;
  configBody: string;
}

function digest(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

async function expectStatus(response: Response, status: number, what: string): Promise<void> {
  if (response.status !== status) {
    throw new Error(`${what}: ${response.status} ${await response.text()}`);
  }
}

/** Pushes `repository:tag` (a config and one layer of `layer`) through `server`'s data endpoint. */
export async function pushSmallImage(
  server: Pick<RunningServer, 'url' | 'authHeader'>,
  repository: string,
  tag: string,
  layer = 'layer bytes',
): Promise<SmallImage> {
  const configBody = JSON.stringify({ architecture: 'amd64', os: 'linux' });
  for (const body of [configBody, layer]) {
    const pushed = await fetch(
      `${server.url}/v2/${repository}/blobs/uploads/?digest=${digest(body)}`,
      {
        method: 'POST',
        headers: { authorization: server.authHeader, 'content-type': 'application/octet-stream' },
        body,
      },
    );
    await expectStatus(pushed, 201, `blob push to ${repository}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: digest(configBody),
      size: configBody.length,
    },
    layers: [
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: digest(layer),
        size: layer.length,
      },
    ],
  });
  const put = await fetch(`${server.url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: {
      authorization: server.authHeader,
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
    },
    body: manifest,
  });
  await expectStatus(put, 201, `manifest push to ${repository}:${tag}`);
  return { manifest, config: digest(configBody), configBody };
}
