/**
 * @module services/scanner/sbom
 * The inventory as an SPDX 2.3 JSON document, and the OCI 1.1 artifact manifest that attaches
 * it to the image as a referrer (`subject` = the scanned manifest, artifactType
 * `application/spdx+json`, the empty config). The document is a function of the image alone
 * (created = the image's creation time, namespace = its digest), so scanning an image again
 * re-pushes identical bytes: one SBOM per image, not one per scan.
 */
import { createHash } from 'node:crypto';
import type { Inventory } from './package-inventory.js';
import type { InstalledPackage } from './osv.js';
import { ecosystemBase } from './version-order.js';

export const SPDX_MEDIA_TYPE = 'application/spdx+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const EMPTY_CONFIG = Buffer.from('{}');

export interface SbomSubject {
  loginServer: string;
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  /** The image config's `created`, when it has one. */
  created?: string;
}

export interface SbomArtifact {
  document: Buffer;
  manifest: Buffer;
  manifestDigest: string;
}

const sha256 = (bytes: Buffer): string =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A package URL (purl) for an installed package, for the SBOM's external references. */
export function purlOf(pkg: InstalledPackage, osId?: string): string | undefined {
  const base = ecosystemBase(pkg.ecosystem);
  const release = pkg.ecosystem.slice(base.length + 1);
  const version = encodeURIComponent(pkg.version);
  const name = (n: string): string => n.split('/').map(encodeURIComponent).join('/');
  switch (base) {
    case 'Debian':
    case 'Ubuntu': {
      const distro = base.toLowerCase();
      return `pkg:deb/${distro}/${name(pkg.name)}@${version}${release ? `?distro=${distro}-${release}` : ''}`;
    }
    case 'Alpine':
      return `pkg:apk/alpine/${name(pkg.name)}@${version}`;
    case 'npm':
      return `pkg:npm/${name(pkg.name)}@${version}`;
    case 'PyPI':
      return `pkg:pypi/${name(pkg.name.toLowerCase().replace(/[-_.]+/g, '-'))}@${version}`;
    default:
      return osId ? `pkg:rpm/${encodeURIComponent(osId)}/${name(pkg.name)}@${version}` : undefined;
  }
}

export function spdxDocument(subject: SbomSubject, inventory: Inventory): Record<string, unknown> {
  const imageId = 'SPDXRef-Image';
  const packages = inventory.packages.map((pkg, i) => {
    const purl = purlOf(pkg, inventory.os?.id);
    return {
      SPDXID: `SPDXRef-Package-${i + 1}`,
      name: pkg.name,
      versionInfo: pkg.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      sourceInfo: `${pkg.ecosystem} package recorded in /${pkg.path} of layer ${pkg.layer}`,
      ...(purl
        ? {
            externalRefs: [
              {
                referenceCategory: 'PACKAGE-MANAGER',
                referenceType: 'purl',
                referenceLocator: purl,
              },
            ],
          }
        : {}),
    };
  });
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${subject.loginServer}/${subject.repository}@${subject.digest}`,
    documentNamespace: `https://${subject.loginServer}/spdx/${subject.repository}/${subject.digest}`,
    creationInfo: {
      created: normalizeCreated(subject.created),
      creators: ['Tool: breakwater-scanner', 'Organization: Breakwater'],
    },
    packages: [
      {
        SPDXID: imageId,
        name: subject.repository,
        versionInfo: subject.digest,
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        primaryPackagePurpose: 'CONTAINER',
        ...(inventory.os?.prettyName ? { description: inventory.os.prettyName } : {}),
      },
      ...packages,
    ],
    relationships: [
      {
        spdxElementId: 'SPDXRef-DOCUMENT',
        relationshipType: 'DESCRIBES',
        relatedSpdxElement: imageId,
      },
      ...packages.map((p) => ({
        spdxElementId: imageId,
        relationshipType: 'CONTAINS',
        relatedSpdxElement: p.SPDXID,
      })),
    ],
  };
}

/** SPDX wants `YYYY-MM-DDThh:mm:ssZ`. */
function normalizeCreated(created: string | undefined): string {
  const time = created ? Date.parse(created) : Number.NaN;
  return new Date(Number.isNaN(time) ? 0 : time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The SPDX document and the referrer manifest that carries it. */
export function sbomArtifact(subject: SbomSubject, inventory: Inventory): SbomArtifact {
  const document = Buffer.from(JSON.stringify(spdxDocument(subject, inventory), null, 2));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SPDX_MEDIA_TYPE,
      config: { mediaType: OCI_EMPTY, digest: sha256(EMPTY_CONFIG), size: EMPTY_CONFIG.length },
      layers: [
        {
          mediaType: SPDX_MEDIA_TYPE,
          digest: sha256(document),
          size: document.length,
          annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' },
        },
      ],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { 'org.opencontainers.image.created': normalizeCreated(subject.created) },
    }),
  );
  return { document, manifest, manifestDigest: sha256(manifest) };
}
