/**
 * Repositories: each with its tag and manifest counts; open one for its manifests (tags,
 * sizes, media types), the referrers that point at each (signatures, SBOMs...), and what the
 * vulnerability scanner found in each image, with "Scan now".
 */
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  arm,
  errorText,
  formatBytes,
  formatTime,
  type ManifestSummary,
  type Repository,
  type ScanResult,
} from '../api.js';
import type { RegistryRef } from './registry-blades.js';
import { Findings, scanVerdict, worstSeverity } from './scan-findings.js';
import { ErrorAlert } from '../error-alert.js';
import { DisclosureButton } from '../table-parts.js';

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
      <ErrorAlert text={error} />
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
                  <DisclosureButton id={r.name} open={open} setOpen={setOpen}>
                    {r.name}
                  </DisclosureButton>
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

function isImage(m: ManifestSummary): boolean {
  return !m.artifactType || m.artifactType === 'application/vnd.oci.image.config.v1+json';
}

/** An image says what it is by media type; an artifact (signature, SBOM...) by artifactType. */
function kindOf(m: ManifestSummary): string {
  return isImage(m) ? (KINDS[m.mediaType] ?? m.mediaType) : m.artifactType!;
}

const short = (digest: string) => `${digest.slice(0, 19)}…`;

function Manifests({ registryRef, repository }: { registryRef: RegistryRef; repository: string }) {
  const [manifests, setManifests] = useState<ManifestSummary[]>();
  const [scans, setScans] = useState<Map<string, ScanResult>>(new Map());
  const [shown, setShown] = useState<string>();
  const [scanning, setScanning] = useState<string>();
  const [error, setError] = useState<string>();

  async function loadScans() {
    const { value } = await arm<{ value: ScanResult[] }>(
      'GET',
      `${registryRef.path}/scanResults?repository=${encodeURIComponent(repository)}`,
    );
    setScans(new Map(value.map((r) => [r.digest, r])));
  }
  async function loadManifests() {
    const r = await arm<{ manifests: ManifestSummary[] }>(
      'GET',
      `${registryRef.path}/repositories/${encodeURIComponent(repository)}`,
    );
    setManifests(r.manifests);
  }
  useEffect(() => {
    loadManifests().catch((e: unknown) => setError(errorText(e)));
    loadScans().catch((e: unknown) => setError(errorText(e)));
  }, []);

  /** The scan runs while the request waits; its result (or its failure) answers it. */
  async function scanNow(digest: string) {
    setError(undefined);
    setScanning(digest);
    try {
      await arm<ScanResult>('POST', `${registryRef.path}/scan`, undefined, {
        repository,
        reference: digest,
      });
      // A scan pushes its SBOM as a referrer: the manifests change too.
      await Promise.all([loadScans(), loadManifests()]);
      setShown(digest);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setScanning(undefined);
    }
  }

  return (
    <section aria-labelledby="manifests-title">
      <h3 id="manifests-title">{repository}</h3>
      <ErrorAlert text={error} />
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
              <th scope="col">Vulnerabilities</th>
            </tr>
          </thead>
          <tbody>
            {manifests.map((m) => {
              const scan = scans.get(m.digest);
              const scannable = isImage(m) && !m.subject;
              return (
                <Fragment key={m.digest}>
                  <tr>
                    <td>
                      <code title={m.digest}>{short(m.digest)}</code>
                      {m.subject && <div class="hint">refers to {short(m.subject)}</div>}
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
                              {r.artifactType ?? r.mediaType} <code>{short(r.digest)}</code>
                            </div>
                          ))}
                    </td>
                    <td>
                      {scannable ? (
                        <>
                          <div
                            class={`verdict severity-${worstSeverity(scan)?.toLowerCase() ?? 'none'}`}
                          >
                            {scanning === m.digest ? 'Scanning…' : scanVerdict(scan)}
                          </div>
                          {scan?.status === 'Succeeded' && scan.findings.length > 0 && (
                            <button
                              type="button"
                              class="link"
                              aria-expanded={shown === m.digest}
                              aria-label={`Findings in ${short(m.digest)}`}
                              onClick={() => setShown(shown === m.digest ? undefined : m.digest)}
                            >
                              {shown === m.digest ? 'Hide findings' : 'Show findings'}
                            </button>
                          )}{' '}
                          <button
                            type="button"
                            class="link"
                            disabled={scanning !== undefined}
                            aria-label={`Scan ${short(m.digest)} now`}
                            onClick={() => void scanNow(m.digest)}
                          >
                            Scan now
                          </button>
                        </>
                      ) : (
                        <span class="hint">not an image</span>
                      )}
                    </td>
                  </tr>
                  {shown === m.digest && scan && (
                    <tr>
                      <td colSpan={7}>
                        <Findings result={scan} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
