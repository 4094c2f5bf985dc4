/**
 * @module services/scanner/image-files
 * The files of an image the scanner reads, from its layers applied in order as the OCI image
 * spec's changesets say: a later layer's file replaces an earlier one, `.wh.<name>` deletes
 * `<name>` (and all below it) from the layers under it, `.wh..wh..opq` hides everything the
 * layers under it put in that directory. Layers are streamed (gzip via zlib, tar via
 * tar-stream) and only the files `wanted` picks are kept in memory, so a large image costs
 * the size of its package databases, not of its layers.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { entryPath } from '../../runtime/index.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_WHITEOUT = '.wh..wh..opq';
/** No package database is this large; a bigger "file" is skipped rather than held. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

export interface ImageFile {
  content: Buffer;
  /** The digest of the layer that put the file there. */
  layer: string;
}

export interface LayerSource {
  digest: string;
  mediaType: string;
  open(): Promise<Readable>;
}

export class UnsupportedLayerError extends Error {
  override name = 'UnsupportedLayerError';
}

/** The wanted files of the image's final filesystem, by path (relative, no leading `/`). */
export async function collectImageFiles(
  layers: LayerSource[],
  wanted: (path: string) => boolean,
): Promise<Map<string, ImageFile>> {
  const files = new Map<string, ImageFile>();
  for (const layer of layers) {
    const changes = await readLayer(layer, wanted);
    // Whiteouts remove what the layers below put there, then this layer's own files land.
    for (const path of changes.deleted) {
      for (const existing of [...files.keys()]) {
        if (existing === path || existing.startsWith(`${path}/`)) files.delete(existing);
      }
    }
    for (const dir of changes.opaque) {
      for (const existing of [...files.keys()]) {
        if (dir === '' || existing.startsWith(`${dir}/`)) files.delete(existing);
      }
    }
    for (const path of changes.replaced) files.delete(path);
    for (const [path, content] of changes.added) files.set(path, { content, layer: layer.digest });
  }
  return files;
}

interface LayerChanges {
  added: Map<string, Buffer>;
  /** Paths a non-wanted entry of this layer now occupies (e.g. a symlink over a database). */
  replaced: Set<string>;
  deleted: string[];
  opaque: string[];
}

async function readLayer(
  layer: LayerSource,
  wanted: (path: string) => boolean,
): Promise<LayerChanges> {
  const changes: LayerChanges = { added: new Map(), replaced: new Set(), deleted: [], opaque: [] };
  const untar = extract();
  untar.on('entry', (header, stream, next) => {
    const path = entryPath(header.name);
    const slash = path.lastIndexOf('/');
    const dir = slash < 0 ? '' : path.slice(0, slash);
    const base = path.slice(slash + 1);
    const chunks: Buffer[] = [];
    let size = 0;
    const keep =
      header.type === 'file' && !base.startsWith(WHITEOUT_PREFIX) && wanted(path) && path !== '';
    if (base === OPAQUE_WHITEOUT) changes.opaque.push(dir);
    else if (base.startsWith(WHITEOUT_PREFIX))
      changes.deleted.push(
        dir ? `${dir}/${base.slice(WHITEOUT_PREFIX.length)}` : base.slice(WHITEOUT_PREFIX.length),
      );
    else if (header.type === 'link' && header.linkname) {
      // A hard link to a file of this layer: same content under another name.
      const target = changes.added.get(entryPath(header.linkname));
      if (target && wanted(path)) changes.added.set(path, target);
      else changes.replaced.add(path);
    } else if (!keep && header.type !== 'directory') changes.replaced.add(path);
    stream.on('data', (chunk: unknown) => {
      if (!keep || !Buffer.isBuffer(chunk)) return;
      size += chunk.length;
      if (size <= MAX_FILE_BYTES) chunks.push(chunk);
    });
    stream.on('end', () => {
      if (keep && size <= MAX_FILE_BYTES) {
        changes.added.set(path, Buffer.concat(chunks));
        changes.replaced.delete(path);
      }
      next();
    });
    stream.on('error', next);
    stream.resume();
  });
  const source = await layer.open();
  const stages: NodeJS.ReadWriteStream[] = [];
  if (/gzip/.test(layer.mediaType)) stages.push(createGunzip());
  else if (/zstd/.test(layer.mediaType))
    throw new UnsupportedLayerError(`layer ${layer.digest}: zstd layers are not supported`);
  else if (!/tar/.test(layer.mediaType) && !/rootfs/.test(layer.mediaType))
    throw new UnsupportedLayerError(`layer ${layer.digest}: unknown media type ${layer.mediaType}`);
  await pipeline([source, ...stages, untar]);
  return changes;
}
