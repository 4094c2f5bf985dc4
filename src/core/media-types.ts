/**
 * @module core/media-types
 * The manifest media types the registry understands, and what each one may reference.
 */

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Image manifests reference a config and layers (blobs). */
export const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([
  MediaType.OciManifest,
  MediaType.DockerManifest,
]);

/** Indexes reference other manifests. */
export const INDEX_TYPES: ReadonlySet<string> = new Set([
  MediaType.OciIndex,
  MediaType.DockerManifestList,
]);

export function isManifestMediaType(mediaType: string): boolean {
  return IMAGE_MANIFEST_TYPES.has(mediaType) || INDEX_TYPES.has(mediaType);
}

/** Drops parameters (`; charset=utf-8`) and normalises case, as HTTP media types allow. */
export function baseMediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const base = contentType.split(';', 1)[0]?.trim().toLowerCase();
  return base ? base : undefined;
}
