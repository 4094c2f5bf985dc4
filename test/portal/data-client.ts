/**
 * @module test/portal/data-client
 * A plain registry client for the portal scenarios: one HTTP request to the data endpoint from a
 * chosen loopback source address (`localAddress`), as a client on another network would come.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface DataResponse {
  status: number;
  body: string;
}

export function dataRequest(
  url: string,
  path: string,
  options: {
    from?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
  } = {},
): Promise<DataResponse> {
  const target = new URL(path, url);
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ...(options.from ? { localAddress: options.from } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The `message` of an OCI error body, for assertions that read what a client shows. */
export function ociMessage(response: DataResponse): string {
  try {
    return (JSON.parse(response.body) as { errors: { message: string }[] }).errors[0]!.message;
  } catch {
    return response.body;
  }
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Pushes a one-layer OCI image as `repository:tag` (monolithic blob uploads, then the manifest). */
export async function pushTinyImage(
  url: string,
  authorization: string,
  repository: string,
  tag: string,
): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const layer = Buffer.from(`portal test layer ${repository}:${tag}`);
  for (const blob of [config, layer]) {
    const uploaded = await dataRequest(
      url,
      `/v2/${repository}/blobs/uploads/?digest=${sha256(blob)}`,
      {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/octet-stream' },
        body: blob,
      },
    );
    if (uploaded.status !== 201) throw new Error(`blob push failed: ${uploaded.body}`);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: sha256(layer),
          size: layer.length,
        },
      ],
    }),
  );
  const pushed = await dataRequest(url, `/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { authorization, 'content-type': OCI_MANIFEST },
    body: manifest,
  });
  if (pushed.status !== 201) throw new Error(`manifest push failed: ${pushed.body}`);
  return sha256(manifest);
}
