/**
 * @module runtime/layer-diff
 * Captures what a build step changed in a root filesystem as an OCI layer. Before the step a
 * snapshot records every path's type, mode, owner, size, inode and change times; after it, a
 * second walk finds what was added or changed (written into the layer with its parent
 * directories) and what disappeared (written as `.wh.` whiteouts, only for the topmost removed
 * path). This is the "naive diff" that buildah and Docker use when no overlay filesystem is at
 * hand; it needs nothing from the kernel but `lstat`, so it runs wherever bubblewrap does.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chown, lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack, type Header } from 'tar-stream';
import { WHITEOUT_PREFIX } from './unpack.js';

/** Top-level directories that belong to the sandbox, never to an image layer. */
const SANDBOX_MOUNTS = new Set(['proc', 'dev', 'sys']);

interface PathState {
  type: 'file' | 'directory' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export type Snapshot = Map<string, PathState>;

/** Every path under `root` (root-relative, POSIX separators) with what identifies its state. */
export async function snapshot(root: string): Promise<Snapshot> {
  const state: Snapshot = new Map();
  const walk = async (relativeDir: string) => {
    const entries = await readdir(join(root, relativeDir)).catch(() => [] as string[]);
    for (const name of entries.sort()) {
      if (relativeDir === '' && SANDBOX_MOUNTS.has(name)) continue;
      const path = relativeDir ? `${relativeDir}/${name}` : name;
      const stat = await lstat(join(root, path), { bigint: true });
      const type = stat.isFile()
        ? 'file'
        : stat.isDirectory()
          ? 'directory'
          : stat.isSymbolicLink()
            ? 'symlink'
            : 'other';
      state.set(path, {
        type,
        mode: Number(stat.mode & 0o7777n),
        uid: Number(stat.uid),
        gid: Number(stat.gid),
        size: Number(stat.size),
        ino: Number(stat.ino),
        mtimeNs: stat.mtimeNs,
        ctimeNs: stat.ctimeNs,
      });
      if (type === 'directory') await walk(path);
    }
  };
  await walk('');
  return state;
}

function changed(before: PathState | undefined, after: PathState): boolean {
  if (!before) return true;
  if (before.type !== after.type || before.ino !== after.ino) return true;
  if (before.mode !== after.mode || before.uid !== after.uid || before.gid !== after.gid)
    return true;
  // A directory's mtime moves when entries come and go; those entries are captured themselves.
  if (after.type === 'directory') return false;
  return (
    before.size !== after.size ||
    before.mtimeNs !== after.mtimeNs ||
    before.ctimeNs !== after.ctimeNs
  );
}

export interface LayerChanges {
  /** Added or changed paths, sorted, parents before children. */
  written: string[];
  /** Removed paths (topmost only), sorted. */
  removed: string[];
}

export function compare(before: Snapshot, after: Snapshot): LayerChanges {
  const written = new Set<string>();
  for (const [path, state] of after) {
    if (!changed(before.get(path), state)) continue;
    written.add(path);
    // Parents travel with their children so the layer applies on any base.
    for (let parent = posix.dirname(path); parent !== '.'; parent = posix.dirname(parent))
      written.add(parent);
  }
  const removed: string[] = [];
  for (const path of before.keys()) {
    if (after.has(path) && after.get(path)!.type === before.get(path)!.type) continue;
    if (after.has(path)) continue; // type changed: the new entry replaces it
    const parent = posix.dirname(path);
    if (parent !== '.' && !after.has(parent)) continue; // the parent's whiteout covers it
    removed.push(path);
  }
  return { written: [...written].sort(), removed: removed.sort() };
}

/**
 * Gives paths a non-root step created (owned by the sandbox's root, because bubblewrap maps the
 * step's user onto ours) the owner the Dockerfile's USER named, as Docker would record them.
 */
export async function adoptNewPaths(
  root: string,
  before: Snapshot,
  after: Snapshot,
  uid: number,
  gid: number,
): Promise<void> {
  for (const [path, state] of after) {
    if (before.has(path) || state.uid !== 0) continue;
    await chown(join(root, path), uid, gid).catch(() => undefined);
  }
}

export interface BuiltLayer {
  /** sha256 of the gzip bytes: the layer's digest in the manifest. */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar: the config's `rootfs.diff_ids` entry. */
  diffId: string;
  /** Whether anything changed at all (an empty layer is still valid, but Docker marks it). */
  empty: boolean;
  /** The root's state after the step: the `before` of the next one. */
  after: Snapshot;
}

class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }
}

/** Writes the changes between `before` and the root's current state as a tar+gzip file. */
export async function writeLayer(
  root: string,
  before: Snapshot,
  file: string,
): Promise<BuiltLayer> {
  const after = await snapshot(root);
  const changes = compare(before, after);
  const entries: Array<() => Promise<void>> = [];
  const tar = pack();
  const linkedInodes = new Map<number, string>();
  const add = (header: Partial<Header> & { name: string }, body?: () => NodeJS.ReadableStream) =>
    new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      // An entry without a body given as a buffer waits for one to be streamed in.
      if (!body) tar.entry(header as Header, Buffer.alloc(0), done);
      else pipeline(body(), tar.entry(header as Header, done)).catch(reject);
    });
  for (const path of changes.removed) {
    const name = posix.join(posix.dirname(path), `${WHITEOUT_PREFIX}${posix.basename(path)}`);
    entries.push(() => add({ name, type: 'file', size: 0, mode: 0o644, mtime: new Date(0) }));
  }
  for (const path of changes.written) {
    const state = after.get(path)!;
    const absolute = join(root, path);
    const stat = await lstat(absolute);
    const base = {
      name: state.type === 'directory' ? `${path}/` : path,
      mode: state.mode,
      uid: state.uid,
      gid: state.gid,
      mtime: stat.mtime,
    };
    if (state.type === 'directory') entries.push(() => add({ ...base, type: 'directory' }));
    else if (state.type === 'symlink') {
      const target = await readlink(absolute);
      entries.push(() => add({ ...base, type: 'symlink', linkname: target }));
    } else if (state.type === 'file') {
      const first = stat.nlink > 1 ? linkedInodes.get(state.ino) : undefined;
      if (first) {
        entries.push(() => add({ ...base, type: 'link', linkname: first }));
      } else {
        if (stat.nlink > 1) linkedInodes.set(state.ino, path);
        entries.push(() =>
          add({ ...base, type: 'file', size: stat.size }, () => createReadStream(absolute)),
        );
      }
    }
  }
  const uncompressed = new Hasher();
  const compressed = new Hasher();
  const written = pipeline(tar, uncompressed, createGzip(), compressed, createWriteStream(file));
  for (const entry of entries) await entry();
  tar.finalize();
  await written;
  return {
    digest: `sha256:${compressed.hash.digest('hex')}`,
    size: compressed.size,
    diffId: `sha256:${uncompressed.hash.digest('hex')}`,
    empty: changes.written.length === 0 && changes.removed.length === 0,
    after,
  };
}
