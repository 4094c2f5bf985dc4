/**
 * @module storage/filesystem-blob-store
 * The default blob store: files under the data directory.
 *
 * ```
 * <root>/
 *   blobs/
 *     sha256/ab/abcdef0123...   published blob, named by its digest, never modified
 *     sha512/..
 *   uploads/
 *     <upload id>               bytes received so far for one upload session
 * ```
 *
 * Publishing = fsync the upload file, verify its digest, rename it into `blobs/`, fsync the
 * directory. rename(2) is atomic, so a reader sees the whole blob or none of it, even across a
 * SIGKILL or power loss.
 *
 * Hashing happens while bytes stream in. The running sha256 of each upload is kept in memory so
 * that committing needs no second read; after a restart (or for sha512) the file is re-hashed.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  truncate,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseDigest, type Digest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import { syncPath } from '../core/sync-path.js';
import type { BlobInfo, BlobSender, BlobStore, ByteRange } from './blob-store.js';
import { appendToFile } from './file-appender.js';
import { FileSender } from './file-sender.js';

const READ_CHUNK = 1024 * 1024;
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

interface RunningHash {
  hash: Hash;
  size: number;
}

export class FilesystemBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly uploadsDir: string;
  /** sha256 of each upload's bytes so far, valid while `size` equals the file's size. */
  private readonly runningHashes = new Map<string, RunningHash>();
  /**
   * Uploads with an append in flight (a second concurrent append is refused, not interleaved),
   * and their size before it: a chunk that fails is truncated away, so until it ends the
   * upload's size is the size before it, whatever the file shows.
   */
  private readonly appending = new Map<string, number | undefined>();

  private constructor(root: string) {
    this.blobsDir = join(root, 'blobs');
    this.uploadsDir = join(root, 'uploads');
  }

  static async open(root: string): Promise<FilesystemBlobStore> {
    const store = new FilesystemBlobStore(root);
    await mkdir(join(store.blobsDir, 'sha256'), { recursive: true });
    await mkdir(join(store.blobsDir, 'sha512'), { recursive: true });
    await mkdir(store.uploadsDir, { recursive: true });
    return store;
  }

  private blobPath(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return join(this.blobsDir, algorithm, encoded.slice(0, 2), encoded);
  }

  private uploadPath(id: string): string {
    // Upload ids come from URLs: refuse anything that could walk out of the folder.
    if (!UPLOAD_ID.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return join(this.uploadsDir, id);
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const info = await stat(this.blobPath(digest));
      return { digest, size: info.size };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    const handle = await this.openBlob(digest);
    return handle.createReadStream({
      highWaterMark: READ_CHUNK,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }

  async openSender(digest: string, range?: ByteRange): Promise<BlobSender> {
    const handle = await this.openBlob(digest);
    if (range) return new FileSender(handle, range.start, range.end);
    try {
      return new FileSender(handle, 0, (await handle.stat()).size - 1);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Opened first so a missing blob is a clean BLOB_UNKNOWN rather than a stream error mid-reply. */
  private async openBlob(digest: string): Promise<FileHandle> {
    try {
      return await open(this.blobPath(digest), 'r');
    } catch (error) {
      if (isNotFound(error))
        throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
      throw error;
    }
  }

  async readUpload(id: string): Promise<Readable> {
    let handle;
    try {
      handle = await open(this.uploadPath(id), 'r');
    } catch (error) {
      if (isNotFound(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      throw error;
    }
    return handle.createReadStream({ highWaterMark: READ_CHUNK });
  }

  async delete(digest: string): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async *list(): AsyncIterable<string> {
    for (const algorithm of ['sha256', 'sha512']) {
      const prefixes = await readdir(join(this.blobsDir, algorithm)).catch(() => []);
      for (const prefix of prefixes) {
        const names = await readdir(join(this.blobsDir, algorithm, prefix)).catch(() => []);
        for (const name of names) yield `${algorithm}:${name}`;
      }
    }
  }

  async createUpload(id: string): Promise<void> {
    const handle = await open(this.uploadPath(id), 'wx');
    await handle.close();
    this.runningHashes.set(id, { hash: createHash('sha256'), size: 0 });
  }

  async uploadSize(id: string): Promise<number | undefined> {
    return this.appending.get(id) ?? this.fileSize(id);
  }

  private async fileSize(id: string): Promise<number | undefined> {
    try {
      return (await stat(this.uploadPath(id))).size;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async appendUpload(id: string, data: Readable, offset: number): Promise<number> {
    const path = this.uploadPath(id);
    if (this.appending.has(id)) {
      throw new RegistryError('RANGE_INVALID', 'another chunk of this upload is in flight', {
        status: 416,
      });
    }
    this.appending.set(id, undefined);
    try {
      const size = await this.fileSize(id);
      if (size === undefined) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      if (size !== offset) {
        throw new RegistryError(
          'RANGE_INVALID',
          `chunk starts at ${offset}, upload has ${size} bytes`,
          {
            status: 416,
            headers: rangeHeader(size),
          },
        );
      }
      this.appending.set(id, size);
      const running = this.runningHashFor(id, size);
      // Checkpoint so a failed chunk can be undone (file truncated, hash restored).
      const checkpoint = running?.hash.copy();
      let received: number;
      try {
        received = await appendToFile(path, offset, data, (chunk) => running?.hash.update(chunk));
      } catch (error) {
        await truncate(path, offset).catch(() => undefined);
        if (running && checkpoint) {
          running.hash = checkpoint;
          running.size = offset;
        }
        // Cancelled (or expired) while the chunk was on its way.
        if (isNotFound(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
        throw error;
      }
      if (running) running.size = offset + received;
      return offset + received;
    } finally {
      this.appending.delete(id);
    }
  }

  /** The in-memory hash, if it still describes the file (not after a restart or a lost chunk). */
  private runningHashFor(id: string, size: number): RunningHash | undefined {
    const running = this.runningHashes.get(id);
    if (running && running.size === size) return running;
    this.runningHashes.delete(id);
    return undefined;
  }

  async commitUpload(id: string, digest: Digest): Promise<BlobInfo> {
    const path = this.uploadPath(id);
    if (this.appending.has(id)) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'a chunk of this upload is still in flight');
    }
    const size = await this.uploadSize(id);
    if (size === undefined) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');

    // Durability first: the bytes must be on disk before the name says they are.
    await syncPath(path);

    const running = digest.algorithm === 'sha256' ? this.runningHashFor(id, size) : undefined;
    const actual = running ? running.hash.digest('hex') : await hashFile(path, digest.algorithm);
    this.runningHashes.delete(id);
    if (actual !== digest.encoded) {
      await rm(path, { force: true });
      throw new RegistryError('DIGEST_INVALID', undefined, {
        detail: { expected: digest.value, actual: `${digest.algorithm}:${actual}` },
      });
    }

    const target = this.blobPath(digest.value);
    if (await this.stat(digest.value)) {
      await rm(path, { force: true });
      return { digest: digest.value, size };
    }
    const directory = join(this.blobsDir, digest.algorithm, digest.encoded.slice(0, 2));
    await mkdir(directory, { recursive: true });
    await rename(path, target);
    await syncPath(directory);
    return { digest: digest.value, size };
  }

  async cancelUpload(id: string): Promise<void> {
    this.runningHashes.delete(id);
    await rm(this.uploadPath(id), { force: true });
  }

  async *listUploads(): AsyncIterable<{ id: string; modified: Date }> {
    const names = await readdir(this.uploadsDir).catch(() => []);
    for (const id of names) {
      const info = await stat(join(this.uploadsDir, id)).catch(() => undefined);
      if (info) yield { id, modified: info.mtime };
    }
  }

  async close(): Promise<void> {
    this.runningHashes.clear();
  }
}

async function hashFile(path: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(path, { highWaterMark: READ_CHUNK }), hash);
  return hash.digest('hex');
}

function rangeHeader(size: number): Record<string, string> {
  return { Range: `0-${Math.max(size - 1, 0)}` };
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
