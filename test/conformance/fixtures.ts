/**
 * @module test/conformance/fixtures
 * Test content for the OCI conformance suite, built the way the official suite's setup builds it
 * (opencontainers/distribution-spec `conformance/setup.go` and `image.go`): unique config blobs per
 * workflow, image manifests carrying a field no spec defines, a small gzipped layer, random blobs for
 * streamed and chunked uploads, and artifacts whose `subject` points at an image manifest.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';

export const MEDIA_TYPE = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
} as const;

/** The error codes a 4xx JSON body may carry (the Go suite's list, spec "Error Codes"). */
export const ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
] as const;

/** Tag the pull, discovery and management workflows push their image under. */
export const TEST_TAG_NAME = 'tagtest0';
/** Tag of the manifest with no layers (push workflow). */
export const EMPTY_LAYER_TEST_TAG = 'emptylayer';
/** Starts with a dot, so it can be neither a tag nor a digest: never found. */
export const NONEXISTENT_MANIFEST = '.INVALID_MANIFEST_NAME';

/** The header value a registry sends when it applied the artifactType filter. */
export const ARTIFACT_TYPE_FILTER = 'artifactType';
export const ANNOTATION_KEY = 'org.opencontainers.conformance.test';

/**
 * A tiny gzipped tarball holding one text file. It is a real layer (not random bytes) so the image
 * manifests describe something a runtime could unpack.
 */
const LAYER_BASE64 =
  'H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0' +
  'WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD' +
  'jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA';

export interface TestBlob {
  content: Buffer;
  /** Decimal byte count, as sent in Content-Length. */
  contentLength: string;
  digest: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  data?: Buffer;
  artifactType?: string;
  /** Not in the image spec; registries must store and serve manifests carrying it anyway. */
  newUnspecifiedField?: Buffer;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function testBlob(content: Buffer): TestBlob {
  return { content, contentLength: String(content.length), digest: sha256Digest(content) };
}

/** Lowercase hex, safe inside repository names. */
export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

function randomString(length: number): string {
  const letters = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-';
  let out = '';
  for (let i = 0; i < length; i++) out += letters[randomInt(letters.length)];
  return out;
}

/**
 * JSON with fields in the order the Go structs declare them and tab indentation, like the Go
 * suite's `json.MarshalIndent(v, "", "\t")`. `newUnspecifiedField` has no omitempty there, so it is
 * `null` on every descriptor that does not set it: the registry sees an unknown field either way.
 */
function descriptorJson(d: Descriptor): Record<string, unknown> {
  const out: Record<string, unknown> = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations && Object.keys(d.annotations).length > 0) out.annotations = d.annotations;
  if (d.data && d.data.length > 0) out.data = d.data.toString('base64');
  if (d.artifactType) out.artifactType = d.artifactType;
  out.newUnspecifiedField = d.newUnspecifiedField ? d.newUnspecifiedField.toString('base64') : null;
  return out;
}

function withOptional(
  out: Record<string, unknown>,
  subject: Descriptor | undefined,
  annotations: Record<string, string> | undefined,
): Record<string, unknown> {
  if (subject) out.subject = descriptorJson(subject);
  if (annotations && Object.keys(annotations).length > 0) out.annotations = annotations;
  return out;
}

export function marshalManifest(m: ImageManifest): Buffer {
  const out: Record<string, unknown> = { schemaVersion: m.schemaVersion };
  if (m.mediaType) out.mediaType = m.mediaType;
  if (m.artifactType) out.artifactType = m.artifactType;
  out.config = descriptorJson(m.config);
  out.layers = m.layers.map(descriptorJson);
  return Buffer.from(JSON.stringify(withOptional(out, m.subject, m.annotations), null, '\t'));
}

export function marshalIndex(i: ImageIndex): Buffer {
  const out: Record<string, unknown> = { schemaVersion: i.schemaVersion };
  if (i.mediaType) out.mediaType = i.mediaType;
  if (i.artifactType) out.artifactType = i.artifactType;
  out.manifests = i.manifests.map(descriptorJson);
  return Buffer.from(JSON.stringify(withOptional(out, i.subject, i.annotations), null, '\t'));
}

/** What the referrers list must say about one referrer (spec "Listing Referrers"). */
export interface ExpectedReferrer {
  mediaType: string;
  size: number;
  artifactType: string;
  annotation: string;
}

/** A blob for chunked upload: two chunks, the first one byte longer, with inclusive ranges. */
export interface ChunkedBlob {
  blob: TestBlob;
  chunk1: Buffer;
  chunk2: Buffer;
  chunk1Range: string;
  chunk2Range: string;
}

/** `size` random bytes split in two (a registry's OCI-Chunk-Min-Length may ask for more). */
export function chunkedBlob(size: number): ChunkedBlob {
  const blob = testBlob(randomBytes(size));
  const split = Math.floor(size / 2) + 1;
  const chunk1 = blob.content.subarray(0, split);
  const chunk2 = blob.content.subarray(split);
  return {
    blob,
    chunk1,
    chunk2,
    chunk1Range: `0-${chunk1.length - 1}`,
    chunk2Range: `${chunk1.length}-${size - 1}`,
  };
}

type Five<T> = [T, T, T, T, T];

export interface Fixtures {
  /** One unique config per workflow: 0 pull, 1 push, 2 discovery, 3 management, 4 referrers. */
  configs: Five<TestBlob>;
  /** Image manifests over `configs[i]` and the layer. */
  manifests: Five<TestBlob>;
  layer: TestBlob;
  emptyLayerManifest: TestBlob;
  /** Streamed upload and cross-mount source. */
  blobA: TestBlob;
  /** Digest of content never pushed. */
  dummyDigest: string;
  emptyJson: TestBlob;
  refBlobA: TestBlob;
  refBlobB: TestBlob;
  artifactTypeA: string;
  artifactTypeB: string;
  artifactTypeIndex: string;
  /** Artifact, artifactType from config.mediaType, subject manifests[4]. */
  refsManifestAConfig: TestBlob;
  refsManifestBConfig: TestBlob;
  /** Artifact with an explicit artifactType and the empty config, subject manifests[4]. */
  refsManifestALayer: TestBlob;
  refsManifestBLayer: TestBlob;
  /** Like B layer, but its subject (manifests[3]) is not pushed when it is. */
  refsManifestCLayer: TestBlob;
  /** Index artifact listing A config and A layer, subject manifests[4]. */
  refsIndex: TestBlob;
  /** The referrers of manifests[4], by digest. */
  referrersOfManifest4: Map<string, ExpectedReferrer>;
}

export function buildFixtures(): Fixtures {
  // A random author makes each config, and so each manifest, unique to this run.
  const configs = Array.from({ length: 5 }, () =>
    testBlob(
      Buffer.from(
        JSON.stringify(
          {
            author: randomString(16),
            architecture: 'amd64',
            os: 'linux',
            rootfs: { type: 'layers', diff_ids: [] },
          },
          null,
          '\t',
        ),
      ),
    ),
  ) as Five<TestBlob>;
  const layer = testBlob(Buffer.from(LAYER_BASE64, 'base64'));
  const layers: Descriptor[] = [
    { mediaType: MEDIA_TYPE.layer, size: layer.content.length, digest: layer.digest },
  ];
  const configDescriptor = (config: TestBlob): Descriptor => ({
    mediaType: MEDIA_TYPE.config,
    digest: config.digest,
    size: config.content.length,
    data: config.content,
    newUnspecifiedField: Buffer.from('hello world'),
  });
  const manifests = configs.map((config) =>
    testBlob(
      marshalManifest({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.manifest,
        config: configDescriptor(config),
        layers,
      }),
    ),
  ) as Five<TestBlob>;
  // No mediaType field, and no layers: both are allowed.
  const emptyLayerManifest = testBlob(
    marshalManifest({
      schemaVersion: 2,
      config: configDescriptor(configs[1]),
      layers: [],
    }),
  );

  const blobA = testBlob(randomBytes(42));
  const emptyJson = testBlob(Buffer.from('{}'));
  const emptyJsonDescriptor: Descriptor = {
    mediaType: MEDIA_TYPE.empty,
    size: emptyJson.content.length,
    digest: emptyJson.digest,
  };
  const refBlobA = testBlob(Buffer.from('Breakwater conformance referrer blob A'));
  const refBlobB = testBlob(Buffer.from('Breakwater conformance referrer blob B, a little longer'));
  const artifactTypeA = 'application/vnd.breakwater.conformance.a';
  const artifactTypeB = 'application/vnd.breakwater.conformance.b';
  const artifactTypeIndex = 'application/vnd.breakwater.conformance.index';

  const manifest4 = manifests[4];
  const manifest3 = manifests[3];
  const subjectOf = (m: TestBlob): Descriptor => ({
    mediaType: MEDIA_TYPE.manifest,
    size: m.content.length,
    digest: m.digest,
  });
  const blobDescriptor = (mediaType: string, blob: TestBlob): Descriptor => ({
    mediaType,
    size: blob.content.length,
    digest: blob.digest,
  });

  const configArtifact = (artifactType: string, blob: TestBlob, note: string): TestBlob =>
    testBlob(
      marshalManifest({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.manifest,
        config: blobDescriptor(artifactType, blob),
        layers: [emptyJsonDescriptor],
        subject: subjectOf(manifest4),
        annotations: { [ANNOTATION_KEY]: note },
      }),
    );
  const layerArtifact = (
    artifactType: string,
    blob: TestBlob,
    subject: TestBlob,
    note?: string,
  ): TestBlob =>
    testBlob(
      marshalManifest({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.manifest,
        artifactType,
        config: emptyJsonDescriptor,
        layers: [blobDescriptor(artifactType, blob)],
        subject: subjectOf(subject),
        ...(note === undefined ? {} : { annotations: { [ANNOTATION_KEY]: note } }),
      }),
    );

  const refsManifestAConfig = configArtifact(artifactTypeA, refBlobA, 'test config a');
  const refsManifestBConfig = configArtifact(artifactTypeB, refBlobB, 'test config b');
  const refsManifestALayer = layerArtifact(artifactTypeA, refBlobA, manifest4, 'test layer a');
  const refsManifestBLayer = layerArtifact(artifactTypeB, refBlobB, manifest4, 'test layer b');
  const refsManifestCLayer = layerArtifact(artifactTypeB, refBlobB, manifest3);
  const refsIndex = testBlob(
    marshalIndex({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.index,
      artifactType: artifactTypeIndex,
      manifests: [
        blobDescriptor(MEDIA_TYPE.manifest, refsManifestAConfig),
        blobDescriptor(MEDIA_TYPE.manifest, refsManifestALayer),
      ],
      subject: subjectOf(manifest4),
      annotations: { [ANNOTATION_KEY]: 'test index' },
    }),
  );

  const referrer = (
    blob: TestBlob,
    mediaType: string,
    artifactType: string,
    annotation: string,
  ): [string, ExpectedReferrer] => [
    blob.digest,
    { mediaType, size: blob.content.length, artifactType, annotation },
  ];
  const referrersOfManifest4 = new Map([
    referrer(refsManifestAConfig, MEDIA_TYPE.manifest, artifactTypeA, 'test config a'),
    referrer(refsManifestALayer, MEDIA_TYPE.manifest, artifactTypeA, 'test layer a'),
    referrer(refsIndex, MEDIA_TYPE.index, artifactTypeIndex, 'test index'),
    referrer(refsManifestBConfig, MEDIA_TYPE.manifest, artifactTypeB, 'test config b'),
    referrer(refsManifestBLayer, MEDIA_TYPE.manifest, artifactTypeB, 'test layer b'),
  ]);

  return {
    configs,
    manifests,
    layer,
    emptyLayerManifest,
    blobA,
    dummyDigest: sha256Digest('hello world'),
    emptyJson,
    refBlobA,
    refBlobB,
    artifactTypeA,
    artifactTypeB,
    artifactTypeIndex,
    refsManifestAConfig,
    refsManifestBConfig,
    refsManifestALayer,
    refsManifestBLayer,
    refsManifestCLayer,
    refsIndex,
    referrersOfManifest4,
  };
}
