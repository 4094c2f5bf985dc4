/**
 * @module core/manifest
 * Parses and validates a pushed manifest: which blobs and child manifests it references, its
 * subject (for the referrers API) and the artifact type the referrers API reports for it.
 * Pure: existence of the referenced content is checked by the registry, not here.
 */
import { parseDigest } from './digest.js';
import { RegistryError } from './errors.js';
import { INDEX_TYPES, IMAGE_MANIFEST_TYPES, MediaType } from './media-types.js';
import { isObject } from './json.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: Record<string, unknown>;
}

export interface ParsedManifest {
  mediaType: string;
  /** What the referrers API reports: `artifactType`, else the config's media type (image manifests). */
  artifactType?: string;
  /** Blobs that must exist in the repository (config + layers without foreign `urls`). */
  blobs: string[];
  /** Manifests an index lists; they must exist in the repository. */
  children: string[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

const FOREIGN_LAYER_TYPES = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

function invalid(message: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message);
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where}: descriptor must be an object`);
  const { mediaType, digest, size, artifactType, annotations, urls, platform } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) {
    throw invalid(`${where}: descriptor mediaType must be a non-empty string`);
  }
  if (typeof digest !== 'string') throw invalid(`${where}: descriptor digest must be a string`);
  try {
    parseDigest(digest);
  } catch {
    throw invalid(`${where}: descriptor digest '${digest.slice(0, 150)}' is invalid`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}: descriptor size must be a non-negative integer`);
  }
  const descriptor: Descriptor = { mediaType, digest, size };
  if (artifactType !== undefined) {
    if (typeof artifactType !== 'string') throw invalid(`${where}: artifactType must be a string`);
    descriptor.artifactType = artifactType;
  }
  if (annotations !== undefined) descriptor.annotations = parseAnnotations(annotations, where);
  if (urls !== undefined) {
    if (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string')) {
      throw invalid(`${where}: urls must be an array of strings`);
    }
    descriptor.urls = urls;
  }
  if (platform !== undefined) {
    if (!isObject(platform)) throw invalid(`${where}: platform must be an object`);
    descriptor.platform = platform;
  }
  return descriptor;
}

function parseAnnotations(value: unknown, where: string): Record<string, string> {
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where}: annotations must map strings to strings`);
  }
  return value as Record<string, string>;
}

function parseDescriptorList(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`);
  return value.map((item, index) => parseDescriptor(item, `${where}[${index}]`));
}

/**
 * Validates manifest bytes pushed with `contentType`. The media type is the Content-Type
 * header, else the body's `mediaType`; when both are present they must agree.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!isObject(body)) throw invalid('manifest must be a JSON object');

  const declared = body.mediaType;
  if (declared !== undefined && typeof declared !== 'string') {
    throw invalid('mediaType must be a string');
  }
  const mediaType = contentType ?? declared ?? guessMediaType(body);
  if (declared !== undefined && declared !== mediaType) {
    throw invalid(`manifest mediaType '${declared}' does not match Content-Type '${mediaType}'`);
  }
  if (mediaType === MediaType.DockerSchema1 || mediaType === MediaType.DockerSchema1Signed) {
    throw invalid('Docker schema 1 manifests are not supported; push schema 2 or OCI');
  }
  if (!IMAGE_MANIFEST_TYPES.has(mediaType) && !INDEX_TYPES.has(mediaType)) {
    throw invalid(`unsupported manifest media type '${mediaType.slice(0, 150)}'`);
  }
  if (body.schemaVersion !== 2) throw invalid('schemaVersion must be 2');

  const subject = body.subject === undefined ? undefined : parseDescriptor(body.subject, 'subject');
  const annotations =
    body.annotations === undefined ? undefined : parseAnnotations(body.annotations, 'annotations');
  let artifactType: string | undefined;
  if (body.artifactType !== undefined) {
    if (typeof body.artifactType !== 'string') throw invalid('artifactType must be a string');
    artifactType = body.artifactType;
  }

  if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
    const config = parseDescriptor(body.config, 'config');
    const layers = parseDescriptorList(body.layers ?? [], 'layers');
    if (body.layers === undefined && mediaType === MediaType.DockerManifest) {
      throw invalid('layers is required');
    }
    const blobs = [config.digest];
    for (const layer of layers) {
      // Foreign (non-distributable) layers live elsewhere: Distribution accepts them unpushed.
      if (FOREIGN_LAYER_TYPES.has(layer.mediaType) && layer.urls?.length) continue;
      blobs.push(layer.digest);
    }
    return {
      mediaType,
      artifactType: artifactType ?? config.mediaType,
      blobs: unique(blobs),
      children: [],
      ...(subject ? { subject } : {}),
      ...(annotations ? { annotations } : {}),
    };
  }

  const manifests = parseDescriptorList(body.manifests, 'manifests');
  return {
    mediaType,
    ...(artifactType ? { artifactType } : {}),
    blobs: [],
    children: unique(manifests.map((m) => m.digest)),
    ...(subject ? { subject } : {}),
    ...(annotations ? { annotations } : {}),
  };
}

/** Without Content-Type or mediaType, the shape decides (an index lists manifests). */
function guessMediaType(body: Record<string, unknown>): string {
  return Array.isArray(body.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
