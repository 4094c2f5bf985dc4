/**
 * @module test/support/oci-layout
 * Builds OCI image layouts on disk (`oci-layout`, `index.json`, `blobs/sha256/...`) from files
 * the test chooses, so interop tests need no network and no pre-built images. Everything is
 * deterministic: the same spec always yields the same layer, config and manifest digests.
 *
 * - Layers are gzip'd tars (tar-stream + zlib) with fixed mtimes and root ownership; parent
 *   directories are added automatically.
 * - The config's `rootfs.diff_ids` are the sha256 of the UNCOMPRESSED tars.
 * - Manifests and indexes are written with an unusual indentation on purpose, so a registry
 *   that re-serialises JSON instead of storing the bytes it was given changes their digests.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Host path of Debian's busybox-static binary. */
export const BUSYBOX_PATH = '/bin/busybox';

/** Every timestamp in generated images (tar mtimes, config `created`, history). */
export const FIXED_DATE = new Date('2024-01-01T00:00:00Z');

export type LayerEntry =
  | { type?: 'file'; path: string; content: string | Uint8Array; mode?: number }
  | { type: 'directory'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string };

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface ImageSpec {
  /** One entry list per layer, bottom layer first. */
  layers: LayerEntry[][];
  /** Defaults to `{ architecture: 'amd64', os: 'linux' }`. */
  platform?: Platform;
  /** The config's `config` object (Env, Cmd, Labels...); a PATH/Cmd default otherwise. */
  runConfig?: Record<string, unknown>;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  manifestDigest: string;
  manifestBytes: Buffer;
  manifestSize: number;
  configDigest: string;
  configBytes: Buffer;
  /** Compressed (blob) digests, bottom layer first. */
  layerDigests: string[];
  layerSizes: number[];
  /** sha256 of the uncompressed tars, as in the config's rootfs.diff_ids. */
  diffIds: string[];
  platform: Platform;
  /** Descriptor of the manifest (with platform), as an index or index.json lists it. */
  descriptor: Descriptor;
  /** Digests of every blob this image wrote: manifest, config, layers. */
  blobDigests: string[];
}

export interface BuiltIndex {
  indexDigest: string;
  indexBytes: Buffer;
  descriptor: Descriptor;
  images: BuiltImage[];
  /** Digests of every blob: the index, and each image's manifest, config and layers. */
  blobDigests: string[];
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** `size` pseudo-random but reproducible bytes derived from `seed` (sha256 in counter mode). */
export function deterministicBytes(seed: string, size: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (let counter = 0; total < size; counter++) {
    const block = createHash('sha256').update(`${seed}:${counter}`).digest();
    chunks.push(block);
    total += block.length;
  }
  return Buffer.concat(chunks).subarray(0, size);
}

/** A layer holding Debian's static busybox at /bin/busybox plus a few applet symlinks. */
export async function busyboxLayer(): Promise<LayerEntry[]> {
  const busybox = await readFile(BUSYBOX_PATH);
  return [
    { path: 'bin/busybox', content: busybox, mode: 0o755 },
    ...['sh', 'ls', 'cat', 'echo'].map((applet): LayerEntry => ({
      type: 'symlink',
      path: `bin/${applet}`,
      target: 'busybox',
    })),
  ];
}

/** Uncompressed tar of the entries, with missing parent directories added first. */
export async function tarLayer(entries: LayerEntry[]): Promise<Buffer> {
  const tarball = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tarball) chunks.push(chunk as Buffer);
  })();
  const seenDirectories = new Set<string>();
  const add = (headers: Parameters<typeof tarball.entry>[0], body?: Buffer) =>
    new Promise<void>((resolveEntry, rejectEntry) => {
      const done = (error?: Error | null) => (error ? rejectEntry(error) : resolveEntry());
      if (body) tarball.entry(headers, body, done);
      else tarball.entry(headers, done);
    });
  const common = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: FIXED_DATE };

  for (const entry of entries) {
    const path = entry.path.replace(/^\/+/, '').replace(/\/+$/, '');
    const parts = path.split('/');
    for (let depth = 1; depth < parts.length; depth++) {
      const parent = parts.slice(0, depth).join('/');
      if (seenDirectories.has(parent)) continue;
      seenDirectories.add(parent);
      await add({ ...common, name: `${parent}/`, type: 'directory', mode: 0o755 });
    }
    if (entry.type === 'directory') {
      if (seenDirectories.has(path)) continue;
      seenDirectories.add(path);
      await add({ ...common, name: `${path}/`, type: 'directory', mode: entry.mode ?? 0o755 });
    } else if (entry.type === 'symlink') {
      await add({ ...common, name: path, type: 'symlink', linkname: entry.target, mode: 0o777 });
    } else {
      const body = Buffer.from(entry.content);
      await add(
        { ...common, name: path, type: 'file', mode: entry.mode ?? 0o644, size: body.length },
        body,
      );
    }
  }
  tarball.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** Creates `dir` as an (initially empty) OCI layout if it is not one already. */
export async function initLayout(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  if (!existsSync(join(dir, 'oci-layout'))) {
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }
  if (!existsSync(join(dir, 'index.json'))) {
    await writeIndexJson(dir, []);
  }
}

export function blobPath(dir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (!algorithm || !hex) throw new Error(`not a digest: ${digest}`);
  return join(dir, 'blobs', algorithm, hex);
}

export async function writeBlob(dir: string, data: Buffer): Promise<string> {
  const digest = sha256Digest(data);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(blobPath(dir, digest), data);
  return digest;
}

export async function readBlob(dir: string, digest: string): Promise<Buffer> {
  return readFile(blobPath(dir, digest));
}

/** Every `sha256:...` blob present in the layout, sorted. */
export async function listBlobDigests(dir: string): Promise<string[]> {
  const names = await readdir(join(dir, 'blobs', 'sha256'));
  return names.map((hex) => `sha256:${hex}`).sort();
}

/** JSON the way the builder writes manifests and indexes (3-space indent, trailing newline). */
function manifestJson(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 3)}\n`);
}

/** Writes the image's layers, config and manifest as blobs of `dir`; index.json is untouched. */
export async function writeImage(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  await initLayout(dir);
  const platform = spec.platform ?? { architecture: 'amd64', os: 'linux' };
  const layerDigests: string[] = [];
  const layerSizes: number[] = [];
  const diffIds: string[] = [];
  for (const entries of spec.layers) {
    const tarball = await tarLayer(entries);
    diffIds.push(sha256Digest(tarball));
    const compressed = gzipSync(tarball, { level: 6 });
    layerDigests.push(await writeBlob(dir, compressed));
    layerSizes.push(compressed.length);
  }

  const created = FIXED_DATE.toISOString();
  const config = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: spec.runConfig ?? {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: spec.layers.map((_, index) => ({
      created,
      created_by: `breakwater test image layer ${index + 1}`,
    })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = await writeBlob(dir, configBytes);

  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length },
    layers: layerDigests.map((digest, index) => ({
      mediaType: OCI_LAYER_GZIP,
      digest,
      size: layerSizes[index],
    })),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
  const manifestBytes = manifestJson(manifest);
  const manifestDigest = await writeBlob(dir, manifestBytes);

  return {
    manifestDigest,
    manifestBytes,
    manifestSize: manifestBytes.length,
    configDigest,
    configBytes,
    layerDigests,
    layerSizes,
    diffIds,
    platform,
    descriptor: {
      mediaType: OCI_MANIFEST,
      digest: manifestDigest,
      size: manifestBytes.length,
      platform,
    },
    blobDigests: [manifestDigest, configDigest, ...layerDigests],
  };
}

export async function readIndexJson(dir: string): Promise<{ manifests: Descriptor[] }> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
}

async function writeIndexJson(dir: string, manifests: Descriptor[]): Promise<void> {
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index, null, 2));
}

/** Adds (or replaces) the descriptor tagged `ref` in the layout's index.json. */
export async function tagInLayout(dir: string, ref: string, descriptor: Descriptor): Promise<void> {
  const { manifests } = await readIndexJson(dir);
  const others = manifests.filter((entry) => entry.annotations?.[REF_NAME_ANNOTATION] !== ref);
  const { platform: _platform, ...plain } = descriptor;
  others.push({ ...plain, annotations: { ...plain.annotations, [REF_NAME_ANNOTATION]: ref } });
  await writeIndexJson(dir, others);
}

/** The descriptor index.json lists under `ref`; throws if there is none. */
export async function resolveLayoutRef(dir: string, ref: string): Promise<Descriptor> {
  const { manifests } = await readIndexJson(dir);
  const found = manifests.find((entry) => entry.annotations?.[REF_NAME_ANNOTATION] === ref);
  if (!found) throw new Error(`no '${ref}' in ${join(dir, 'index.json')}`);
  return found;
}

/**
 * Builds a single-platform image into the OCI layout `dir` (created if needed) and tags it
 * `ref` in index.json; call again with another ref to add more images to the same layout.
 * Use it as `oci:${dir}:${ref}`.
 */
export async function buildImageLayout(
  dir: string,
  spec: ImageSpec,
  ref = 'latest',
): Promise<BuiltImage> {
  const image = await writeImage(dir, spec);
  await tagInLayout(dir, ref, image.descriptor);
  return image;
}

/**
 * Builds one image per spec (each with its own platform) plus an OCI image index listing them,
 * and tags the index `ref` in the layout's index.json.
 */
export async function buildIndexLayout(
  dir: string,
  specs: ImageSpec[],
  ref = 'latest',
  annotations?: Record<string, string>,
): Promise<BuiltIndex> {
  const images: BuiltImage[] = [];
  for (const spec of specs) images.push(await writeImage(dir, spec));
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: images.map((image) => image.descriptor),
    ...(annotations ? { annotations } : {}),
  };
  const indexBytes = manifestJson(index);
  const indexDigest = await writeBlob(dir, indexBytes);
  const descriptor: Descriptor = {
    mediaType: OCI_INDEX,
    digest: indexDigest,
    size: indexBytes.length,
  };
  await tagInLayout(dir, ref, descriptor);
  return {
    indexDigest,
    indexBytes,
    descriptor,
    images,
    blobDigests: [indexDigest, ...images.flatMap((image) => image.blobDigests)],
  };
}

/**
 * A three-layer test image: busybox, a layer of small text files, and a layer with a 256 KiB
 * data file. `flavor` changes the contents (and so every digest) of the upper two layers.
 */
export async function sampleImageSpec(
  flavor = 'default',
  platform: Platform = { architecture: 'amd64', os: 'linux' },
): Promise<ImageSpec> {
  return {
    platform,
    layers: [
      await busyboxLayer(),
      [
        { path: 'etc/breakwater/flavor', content: `${flavor}\n` },
        { path: 'etc/breakwater/platform', content: `${platform.os}/${platform.architecture}\n` },
        { path: 'etc/motd', content: 'Built by test/support/oci-layout.ts\n' },
        { type: 'directory', path: 'var/empty' },
      ],
      [
        { path: 'usr/share/breakwater/data.bin', content: deterministicBytes(flavor, 256 * 1024) },
        { type: 'symlink', path: 'usr/share/breakwater/data.link', target: 'data.bin' },
      ],
    ],
    runConfig: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      Labels: { 'org.example.flavor': flavor },
    },
  };
}
