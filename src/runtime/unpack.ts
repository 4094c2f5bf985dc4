/**
 * @module runtime/unpack
 * Applies an image's layers, in order, to a root filesystem directory, as the OCI image spec's
 * "applying changesets" says: regular files, directories, symlinks and hard links with their
 * modes, owners and times; `.wh.<name>` deletes `<name>` from lower layers, `.wh..wh..opq`
 * empties a directory of lower-layer content. Every path is confined to the root: `..`
 * components are refused and symlinks are followed as inside a chroot (`scoped-path.ts`), so a
 * hostile layer cannot write outside its root.
 */
import { createReadStream } from 'node:fs';
import {
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  realpath,
  rm,
  symlink,
} from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { resolveInRoot } from './scoped-path.js';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

export class LayerError extends Error {
  override name = 'LayerError';
}

/** Normalises a tar entry name to a relative POSIX path, refusing anything that climbs out. */
export function entryPath(name: string): string {
  const normalized = posix.normalize(`/${name}`).slice(1).replace(/\/+$/, '');
  if (name.split('/').includes('..')) throw new LayerError(`layer entry '${name}' leaves the root`);
  return normalized;
}

/** The host directory for `relativeDir` inside `root` (symlinks followed in scope), created. */
async function confinedDirectory(root: string, relativeDir: string): Promise<string> {
  const directory = await resolveInRoot(root, relativeDir);
  const stat = await lstat(directory).catch(() => undefined);
  if (stat && !stat.isDirectory()) {
    // A file where a directory must be: later layers win, as with overlay filesystems.
    await rm(directory, { force: true });
  }
  if (!stat?.isDirectory()) await mkdir(directory, { recursive: true, mode: 0o755 });
  return directory;
}

/** Layers may be gzip-compressed or plain tar (media types lie often enough): the magic decides. */
async function decompressIfNeeded(source: Readable): Promise<Readable> {
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await chunks.next();
  const replay = Readable.from(
    (async function* () {
      if (!first.done) yield first.value;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    })(),
  );
  if (first.done || first.value[0] !== 0x1f || first.value[1] !== 0x8b) return replay;
  const gunzip = createGunzip();
  replay.once('error', (error) => gunzip.destroy(error));
  return replay.pipe(gunzip);
}

/** Applies one layer (tar or tar+gzip stream) to `root`. */
export async function applyLayer(root: string, layer: Readable): Promise<void> {
  const realRoot = await realpath(root);
  const tar = extract();
  const deferredTimes: Array<[string, Date]> = [];
  const apply = async () => {
    for await (const entry of tar) {
      try {
        await applyEntry(realRoot, entry.header, entry as unknown as Readable, deferredTimes);
      } finally {
        entry.resume();
      }
    }
  };
  await Promise.all([pipeline(await decompressIfNeeded(layer), tar), apply()]);
  // Directory times last: writing into a directory changes its mtime.
  for (const [path, time] of deferredTimes.reverse()) {
    await lutimes(path, time, time).catch(() => undefined);
  }
}

async function applyEntry(
  root: string,
  header: Header,
  body: Readable,
  deferredTimes: Array<[string, Date]>,
): Promise<void> {
  const path = entryPath(header.name);
  if (path === '') return; // the root itself
  const name = posix.basename(path);
  const parent = await confinedDirectory(
    root,
    posix.dirname(path) === '.' ? '' : posix.dirname(path),
  );
  if (name === OPAQUE_WHITEOUT) {
    for (const child of await readdir(parent))
      await rm(join(parent, child), { recursive: true, force: true });
    return;
  }
  if (name.startsWith(WHITEOUT_PREFIX)) {
    await rm(join(parent, name.slice(WHITEOUT_PREFIX.length)), { recursive: true, force: true });
    return;
  }
  const target = join(parent, name);
  const existing = await lstat(target).catch(() => undefined);
  const mode = (header.mode ?? 0o644) & 0o7777;
  const time = header.mtime ?? new Date(0);
  switch (header.type) {
    case 'directory': {
      if (existing && !existing.isDirectory()) await rm(target, { force: true });
      if (!existing || !existing.isDirectory()) await mkdir(target, { mode });
      await chmod(target, mode);
      await lchown(target, header.uid ?? 0, header.gid ?? 0);
      deferredTimes.push([target, time]);
      return;
    }
    case 'file':
    case 'contiguous-file': {
      if (existing) await rm(target, { recursive: true, force: true });
      await pipeline(body, createWriteStream(target, { mode }));
      break;
    }
    case 'symlink': {
      if (existing) await rm(target, { recursive: true, force: true });
      await symlink(header.linkname ?? '', target);
      await lchown(target, header.uid ?? 0, header.gid ?? 0);
      await lutimes(target, time, time).catch(() => undefined);
      return;
    }
    case 'link': {
      const linkPath = entryPath(header.linkname ?? '');
      const linkParent = await confinedDirectory(
        root,
        posix.dirname(linkPath) === '.' ? '' : posix.dirname(linkPath),
      );
      if (existing) await rm(target, { recursive: true, force: true });
      await link(join(linkParent, posix.basename(linkPath)), target);
      return;
    }
    default:
      // Devices and FIFOs: a sandbox gets its own /dev, and nothing we run needs the others.
      return;
  }
  await chmod(target, mode);
  await lchown(target, header.uid ?? 0, header.gid ?? 0);
  await lutimes(target, time, time);
}

/** Applies a layer stored in a file (tests, and layers built locally). */
export function applyLayerFile(root: string, file: string): Promise<void> {
  return applyLayer(root, createReadStream(file));
}
