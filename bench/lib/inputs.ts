/**
 * @module bench/lib/inputs
 * The benchmark's images, written once as OCI image layouts (`oci-layout`, `index.json`,
 * `blobs/sha256/...`) that skopeo reads and the raw HTTP client streams from.
 *
 * Every layer is a gzip stream at level 0 (stored blocks) of a tar holding one file of AES-CTR
 * keystream bytes. So the bytes are incompressible and reproducible (the seed decides them), and
 * the layer is a genuine `tar+gzip` blob: skopeo recognises it as compressed and sends it as is,
 * instead of spending the whole run in gzip.
 *
 * Layouts are cached under the inputs directory, keyed by their sizes, so a second run of the same
 * scale skips generation.
 */
import { createCipheriv, createHash, type Hash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REF_NAME = 'org.opencontainers.image.ref.name';

const MiB = 1024 * 1024;
const CHUNK = MiB;
/** Bumped whenever the bytes a layout holds change, so stale caches are not reused. */
const FORMAT_VERSION = 1;
const FIXED_MTIME = Date.UTC(2024, 0, 1) / 1000;

/** How big each workload is; `sizesFor(1)` is the full benchmark. */
export interface Sizes {
  w1Layers: number;
  w1LayerBytes: number;
  w2Images: number;
  w2Layers: number;
  w2LayerBytes: number;
  w3Tags: number;
  w3Layers: number;
  w3LayerBytes: number;
}

export function sizesFor(scale: number): Sizes {
  return {
    w1Layers: 4,
    w1LayerBytes: Math.max(MiB, Math.round(256 * MiB * scale)),
    w2Images: Math.max(16, Math.round(200 * scale)),
    w2Layers: 5,
    w2LayerBytes: 64 * 1024,
    w3Tags: Math.max(5, Math.round(20 * scale)),
    w3Layers: 3,
    w3LayerBytes: Math.max(256 * 1024, Math.round(16 * MiB * scale)),
  };
}

export interface BlobRef {
  digest: string;
  size: number;
  /** Absolute path of the blob inside its layout. */
  path: string;
}

export interface ImageInput {
  /** The layout's ref name (`oci:<dir>:<tag>`). */
  tag: string;
  manifest: BlobRef;
  manifestBytes: string;
  config: BlobRef;
  layers: BlobRef[];
  /** Sum of the layer sizes: what throughput figures divide by. */
  layerBytes: number;
}

export interface Layout {
  dir: string;
  images: ImageInput[];
}

export interface Inputs {
  sizes: Sizes;
  w1: Layout;
  w2: Layout;
  w3: Layout;
}

/** AES-256-CTR keystream for `seed`: fast, incompressible and the same on every run. */
export function* keystream(seed: string, length: number): Generator<Buffer> {
  const key = createHash('sha256').update(`bench-key:${seed}`).digest();
  const iv = createHash('sha256').update(`bench-iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const zeros = Buffer.alloc(CHUNK);
  for (let done = 0; done < length; done += CHUNK) {
    const n = Math.min(CHUNK, length - done);
    yield cipher.update(n === CHUNK ? zeros : zeros.subarray(0, n));
  }
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
}

/** A ustar header for one regular file, root-owned, with a fixed mtime. */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'latin1');
  writeOctal(header, 100, 8, 0o644);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, size);
  writeOctal(header, 136, 12, FIXED_MTIME);
  header.fill(0x20, 148, 156);
  header.write('0', 156, 'latin1');
  header.write('ustar\0' + '00', 257, 'latin1');
  header.write('root', 265, 'latin1');
  header.write('root', 297, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return header;
}

function* tarOfRandomFile(seed: string, size: number): Generator<Buffer> {
  yield tarHeader(`data-${seed.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80)}.bin`, size);
  yield* keystream(seed, size);
  const padding = (512 - (size % 512)) % 512;
  // Padding to a whole record, then the two zero records that end an archive.
  yield Buffer.alloc(padding + 1024);
}

function tap(hash: Hash, count?: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      count?.(chunk.length);
      callback(null, chunk);
    },
  });
}

interface LayerInfo {
  blob: BlobRef;
  diffId: string;
}

class LayoutWriter {
  private readonly blobsDir: string;
  private readonly layers = new Map<string, LayerInfo>();
  readonly images: ImageInput[] = [];

  constructor(readonly dir: string) {
    this.blobsDir = join(dir, 'blobs', 'sha256');
  }

  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await writeFile(join(this.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  }

  /** One tar+gzip layer of `size` random payload bytes; the same seed is written once. */
  async layer(seed: string, size: number): Promise<LayerInfo> {
    const known = this.layers.get(seed);
    if (known) return known;
    const diff = createHash('sha256');
    const blob = createHash('sha256');
    let blobSize = 0;
    const temporary = join(
      this.blobsDir,
      `.partial-${createHash('sha256').update(seed).digest('hex')}`,
    );
    await pipeline(
      Readable.from(tarOfRandomFile(seed, size), { objectMode: false }),
      tap(diff),
      createGzip({ level: 0, chunkSize: 256 * 1024 }),
      tap(blob, (n) => (blobSize += n)),
      createWriteStream(temporary),
    );
    const encoded = blob.digest('hex');
    const path = join(this.blobsDir, encoded);
    await rename(temporary, path);
    const info = {
      blob: { digest: `sha256:${encoded}`, size: blobSize, path },
      diffId: `sha256:${diff.digest('hex')}`,
    };
    this.layers.set(seed, info);
    return info;
  }

  async blob(bytes: Buffer): Promise<BlobRef> {
    const encoded = createHash('sha256').update(bytes).digest('hex');
    const path = join(this.blobsDir, encoded);
    await writeFile(path, bytes);
    return { digest: `sha256:${encoded}`, size: bytes.length, path };
  }

  async image(tag: string, layerSeeds: string[], layerSize: number): Promise<ImageInput> {
    const layers: LayerInfo[] = [];
    for (const seed of layerSeeds) layers.push(await this.layer(seed, layerSize));
    const config = await this.blob(
      Buffer.from(
        JSON.stringify({
          created: '2024-01-01T00:00:00Z',
          architecture: 'amd64',
          os: 'linux',
          // A per-tag label gives every tag its own config and manifest, even with shared layers.
          config: { Labels: { 'breakwater.bench.image': tag } },
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        }),
      ),
    );
    const manifestBytes = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({
        mediaType: OCI_LAYER_GZIP,
        digest: l.blob.digest,
        size: l.blob.size,
      })),
    });
    const manifest = await this.blob(Buffer.from(manifestBytes));
    const image: ImageInput = {
      tag,
      manifest,
      manifestBytes,
      config,
      layers: layers.map((l) => l.blob),
      layerBytes: layers.reduce((sum, l) => sum + l.blob.size, 0),
    };
    this.images.push(image);
    return image;
  }

  async finish(): Promise<Layout> {
    const index = {
      schemaVersion: 2,
      manifests: this.images.map((image) => ({
        mediaType: OCI_MANIFEST,
        digest: image.manifest.digest,
        size: image.manifest.size,
        annotations: { [REF_NAME]: image.tag },
      })),
    };
    await writeFile(join(this.dir, 'index.json'), JSON.stringify(index));
    return { dir: this.dir, images: this.images };
  }
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

async function buildInputs(root: string, sizes: Sizes): Promise<Omit<Inputs, 'sizes'>> {
  const w1 = new LayoutWriter(join(root, 'w1'));
  await w1.init();
  await w1.image(
    'big',
    Array.from({ length: sizes.w1Layers }, (_, i) => `w1-layer-${i}`),
    sizes.w1LayerBytes,
  );

  const w2 = new LayoutWriter(join(root, 'w2'));
  await w2.init();
  for (let image = 0; image < sizes.w2Images; image += 1) {
    await w2.image(
      `img-${pad(image, 4)}`,
      Array.from({ length: sizes.w2Layers }, (_, i) => `w2-image-${image}-layer-${i}`),
      sizes.w2LayerBytes,
    );
  }

  const w3 = new LayoutWriter(join(root, 'w3'));
  await w3.init();
  const shared = Array.from({ length: sizes.w3Layers }, (_, i) => `w3-shared-layer-${i}`);
  for (let tag = 0; tag < sizes.w3Tags; tag += 1) {
    await w3.image(`tag-${pad(tag, 3)}`, shared, sizes.w3LayerBytes);
  }

  return { w1: await w1.finish(), w2: await w2.finish(), w3: await w3.finish() };
}

/**
 * The layouts for `sizes`, generated under `cacheRoot` on first use and reused afterwards.
 * `log` hears about generation, which takes a while at full scale.
 */
export async function ensureInputs(
  cacheRoot: string,
  sizes: Sizes,
  log: (message: string) => void,
): Promise<Inputs> {
  const key = createHash('sha256')
    .update(JSON.stringify({ FORMAT_VERSION, sizes }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheRoot, `inputs-${key}`);
  const manifestFile = join(dir, 'inputs.json');
  if (existsSync(manifestFile)) {
    log(`reusing generated images in ${dir}`);
    return JSON.parse(await readFile(manifestFile, 'utf8')) as Inputs;
  }
  const building = `${dir}.partial`;
  await rm(building, { recursive: true, force: true });
  await mkdir(building, { recursive: true });
  log(`generating images in ${dir} (once per scale)`);
  const started = performance.now();
  const built = await buildInputs(building, sizes);
  await rename(building, dir);
  // Paths were recorded under the temporary name; point them at the final directory.
  const relocate = (layout: Layout): Layout =>
    JSON.parse(JSON.stringify(layout).split(building).join(dir)) as Layout;
  const inputs: Inputs = {
    sizes,
    w1: relocate(built.w1),
    w2: relocate(built.w2),
    w3: relocate(built.w3),
  };
  await writeFile(manifestFile, JSON.stringify(inputs));
  log(`generated images in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return inputs;
}
