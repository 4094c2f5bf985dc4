import { describe, expect, it } from 'vitest';
import type { InstalledPackage } from './osv.js';
import { purlOf, sbomArtifact } from './sbom.js';

const pkg = (ecosystem: string, name: string, version: string): InstalledPackage => ({
  ecosystem,
  name,
  version,
  layer: 'sha256:l',
  path: 'p',
});

describe('SBOM', () => {
  it.each([
    [
      pkg('Debian:12', 'libssl3', '3.0.11-1~deb12u2'),
      'pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12',
    ],
    [pkg('Alpine:v3.19', 'busybox', '1.36.1-r15'), 'pkg:apk/alpine/busybox@1.36.1-r15'],
    [pkg('npm', '@babel/core', '7.23.0'), 'pkg:npm/%40babel/core@7.23.0'],
    [pkg('PyPI', 'Foo_Bar', '1.0'), 'pkg:pypi/foo-bar@1.0'],
    [
      pkg('Rocky Linux', 'openssl-libs', '1:3.0.7-24.el9'),
      'pkg:rpm/rocky/openssl-libs@1%3A3.0.7-24.el9',
    ],
  ])('purl of %o', (p, purl) => {
    expect(purlOf(p, 'rocky')).toBe(purl);
  });

  it('is a referrer of the scanned manifest, and the same bytes for the same image', () => {
    const subject = {
      loginServer: 'r.example',
      repository: 'app',
      digest: `sha256:${'a'.repeat(64)}`,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 123,
      created: '2024-01-01T00:00:00.5Z',
    };
    const inventory = { packages: [pkg('npm', 'lodash', '4.17.21')] };
    const first = sbomArtifact(subject, inventory);
    expect(sbomArtifact(subject, inventory).manifestDigest).toBe(first.manifestDigest);
    const manifest = JSON.parse(first.manifest.toString()) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2 },
      subject: { digest: subject.digest, size: 123 },
    });
    const document = JSON.parse(first.document.toString()) as {
      creationInfo: { created: string };
      relationships: unknown[];
    };
    expect(document.creationInfo.created).toBe('2024-01-01T00:00:00Z');
    expect(document.relationships).toHaveLength(2);
  });
});
