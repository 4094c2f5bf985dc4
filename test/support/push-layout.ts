/**
 * @module test/support/push-layout
 * Pushes an image from an OCI layout to a live server's data endpoint with the owner's Basic
 * credentials and a chosen Host header, for registries whose login server (`*.azurecr.localhost`)
 * no client here can resolve: the data endpoint picks the registry by Host, as it does for the
 * platform's own services.
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { RunningServer } from './server.js';

function send(
  server: RunningServer,
  host: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<number> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          host,
          authorization: server.authHeader,
          ...headers,
          ...(body ? { 'content-length': String(body.length) } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

/** Pushes the layout's image tagged `ref` to `repository:tag` (tag from the repository spec). */
export async function pushLayoutOverHttp(
  server: RunningServer,
  host: string,
  layout: string,
  ref: string,
  target: string,
): Promise<void> {
  const [repository, tag = 'latest'] = target.split(':');
  const blob = (digest: string) => readFile(join(layout, 'blobs', 'sha256', digest.slice(7)));
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
  };
  const entry = index.manifests.find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref,
  );
  if (!entry) throw new Error(`no ${ref} in ${layout}`);
  const manifestBytes = await blob(entry.digest);
  const manifest = JSON.parse(manifestBytes.toString()) as {
    mediaType: string;
    config: { digest: string };
    layers: Array<{ digest: string }>;
  };
  for (const digest of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    const status = await send(
      server,
      host,
      'POST',
      `/v2/${repository}/blobs/uploads/?digest=${encodeURIComponent(digest)}`,
      { 'content-type': 'application/octet-stream' },
      await blob(digest),
    );
    if (status !== 201) throw new Error(`blob ${digest} push answered ${status}`);
  }
  const status = await send(
    server,
    host,
    'PUT',
    `/v2/${repository}/manifests/${tag}`,
    { 'content-type': manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json' },
    manifestBytes,
  );
  if (status !== 201) throw new Error(`manifest push answered ${status}`);
}
