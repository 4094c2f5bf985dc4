/**
 * Repositories: each with its tag and manifest counts; open one for its manifests (tags,
 * sizes, media types) and the referrers that point at each (signatures, SBOMs...).
 */
import { useEffect, useState } from 'preact/hooks';
import {
  arm,
  errorText,
  formatBytes,
  formatTime,
  type ManifestSummary,
  type Repository,
} from '../api.js';
import type { RegistryRef } from './registry-blades.js';

export function Repositories({ registryRef }: { registryRef: RegistryRef }) {
  const [repositories, setRepositories] = useState<Repository[]>();
  const [open, setOpen] = useState<string>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    arm<{ value: Repository[] }>('GET', `${registryRef.path}/repositories`)
      .then(({ value }) => setRepositories(value))
      .catch((e: unknown) => setError(errorText(e)));
  }, []);

  return (
    <>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {repositories && repositories.length === 0 && <p>No repositories yet.</p>}
      {repositories && repositories.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col">Tags</th>
              <th scope="col">Manifests</th>
              <th scope="col">Last updated</th>
            </tr>
          </thead>
          <tbody>
            {repositories.map((r) => (
              <tr key={r.name}>
                <td>
                  <button
                    type="button"
                    class="link"
                    aria-expanded={open === r.name}
                    onClick={() => setOpen(open === r.name ? undefined : r.name)}
                  >
                    {r.name}
                  </button>
                </td>
                <td>{r.tagCount}</td>
                <td>{r.manifestCount}</td>
                <td>{formatTime(r.lastUpdateTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open && <Manifests key={open} registryRef={registryRef} repository={open} />}
    </>
  );
}

const KINDS: Record<string, string> = {
  'application/vnd.oci.image.manifest.v1+json': 'OCI image',
  'application/vnd.oci.image.index.v1+json': 'OCI index',
  'application/vnd.docker.distribution.manifest.v2+json': 'Docker image',
  'application/vnd.docker.distribution.manifest.list.v2+json': 'Docker manifest list',
};

/** An image says what it is by media type; an artifact (signature, SBOM...) by artifactType. */
function kindOf(m: ManifestSummary): string {
  const image = !m.artifactType || m.artifactType === 'application/vnd.oci.image.config.v1+json';
  return image ? (KINDS[m.mediaType] ?? m.mediaType) : m.artifactType!;
}

function Manifests({ registryRef, repository }: { registryRef: RegistryRef; repository: string }) {
  const [manifests, setManifests] = useState<ManifestSummary[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    arm<{ manifests: ManifestSummary[] }>(
      'GET',
      `${registryRef.path}/repositories/${encodeURIComponent(repository)}`,
    )
      .then((r) => setManifests(r.manifests))
      .catch((e: unknown) => setError(errorText(e)));
  }, []);
  return (
    <section aria-labelledby="manifests-title">
      <h3 id="manifests-title">{repository}</h3>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {manifests && (
        <table>
          <thead>
            <tr>
              <th scope="col">Digest</th>
              <th scope="col">Tags</th>
              <th scope="col">Type</th>
              <th scope="col">Size</th>
              <th scope="col">Pushed</th>
              <th scope="col">Referrers</th>
            </tr>
          </thead>
          <tbody>
            {manifests.map((m) => (
              <tr key={m.digest}>
                <td>
                  <code title={m.digest}>{m.digest.slice(0, 19)}…</code>
                  {m.subject && <div class="hint">refers to {m.subject.slice(0, 19)}…</div>}
                </td>
                <td>{m.tags.length ? m.tags.join(', ') : <em>untagged</em>}</td>
                <td>{kindOf(m)}</td>
                <td>{formatBytes(m.imageSize)}</td>
                <td>{formatTime(m.createdTime)}</td>
                <td>
                  {m.referrers.length === 0
                    ? 'none'
                    : m.referrers.map((r) => (
                        <div key={r.digest}>
                          {r.artifactType ?? r.mediaType} <code>{r.digest.slice(0, 19)}…</code>
                        </div>
                      ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
