/**
 * @module storage/azure-blob-store
 * Blobs in an Azure Blob Storage container (or Azurite), shared by every replica.
 *
 * ```
 * <container>/
 *   blobs/sha256/<hex>     published blob, a block blob named by its digest, never modified
 *   uploads/<upload id>    bytes received so far: a block blob whose committed blocks are the
 *                          chunks appended so far
 * ```
 *
 * Appending a chunk stages its bytes as new blocks, then commits the block list "old blocks +
 * new ones" on the condition that the upload's ETag has not moved (the offset check and the
 * guard against a concurrent append, across replicas). A chunk that fails midway is never
 * committed, so the upload stays at its offset: rollback costs nothing.
 *
 * Publishing reads the upload once, hashing it and staging the same bytes as blocks of the
 * destination; the destination's block list is committed only when the digest matched. A block
 * blob is visible only once its list is committed, so nothing partial or unverified is ever
 * readable. The upload is re-read (not hashed as it arrives) because consecutive chunks may
 * land on different replicas, and a hash state cannot move between processes.
 *
 * Memory stays flat: bytes move in blocks of `BLOCK_SIZE` at most, with backpressure.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  BlobServiceClient,
  RestError,
  type BlockBlobClient,
  type ContainerClient,
} from '@azure/storage-blob';
import { createDigester, parseDigest, type Digest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import type { BlobInfo, BlobStore, ByteRange } from './blob-store.js';

/** Bytes per staged block: bounds memory per transfer; 50,000 blocks make ~390 GiB per blob. */
const BLOCK_SIZE = 8 * 1024 * 1024;
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

export interface AzureBlobStoreOptions {
  connectionString: string;
  container: string;
}

export class AzureBlobStore implements BlobStore {
  private constructor(private readonly container: ContainerClient) {}

  static async open(options: AzureBlobStoreOptions): Promise<AzureBlobStore> {
    const service = BlobServiceClient.fromConnectionString(options.connectionString);
    const container = service.getContainerClient(options.container);
    await container.createIfNotExists();
    return new AzureBlobStore(container);
  }

  private blob(digest: string): BlockBlobClient {
    const { algorithm, encoded } = parseDigest(digest);
    return this.container.getBlockBlobClient(`blobs/${algorithm}/${encoded}`);
  }

  private upload(id: string): BlockBlobClient {
    // Upload ids come from URLs: refuse anything that is not a plain name.
    if (!UPLOAD_ID.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return this.container.getBlockBlobClient(`uploads/${id}`);
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const properties = await this.blob(digest).getProperties();
      return { digest, size: properties.contentLength ?? 0 };
    } catch (error) {
      if (hasStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    try {
      const response = range
        ? await this.blob(digest).download(range.start, range.end - range.start + 1)
        : await this.blob(digest).download();
      const body = response.readableStreamBody;
      if (!body) throw new Error('Azure download returned no stream');
      return body instanceof Readable ? body : Readable.from(body);
    } catch (error) {
      if (hasStatus(error, 404)) {
        throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
      }
      throw error;
    }
  }

  async readUpload(id: string): Promise<Readable> {
    try {
      const body = (await this.upload(id).download()).readableStreamBody;
      if (!body) throw new Error('Azure download returned no stream');
      return body instanceof Readable ? body : Readable.from(body);
    } catch (error) {
      if (hasStatus(error, 404)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      throw error;
    }
  }

  async delete(digest: string): Promise<boolean> {
    const result = await this.blob(digest).deleteIfExists();
    return result.succeeded;
  }

  async *list(): AsyncIterable<string> {
    for await (const item of this.container.listBlobsFlat({ prefix: 'blobs/' })) {
      const [, algorithm, encoded] = item.name.split('/');
      if (algorithm && encoded) yield `${algorithm}:${encoded}`;
    }
  }

  async createUpload(id: string): Promise<void> {
    await this.upload(id).commitBlockList([], { conditions: { ifNoneMatch: '*' } });
  }

  async uploadSize(id: string): Promise<number | undefined> {
    try {
      return (await this.upload(id).getProperties()).contentLength ?? 0;
    } catch (error) {
      if (hasStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async appendUpload(id: string, data: Readable, offset: number): Promise<number> {
    const upload = this.upload(id);
    let etag: string | undefined;
    let size: number;
    try {
      const properties = await upload.getProperties();
      etag = properties.etag;
      size = properties.contentLength ?? 0;
    } catch (error) {
      data.resume();
      if (hasStatus(error, 404)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      throw error;
    }
    if (size !== offset) {
      data.resume();
      throw new RegistryError(
        'RANGE_INVALID',
        `chunk starts at ${offset}, upload has ${size} bytes`,
        {
          status: 416,
          headers: { Range: `0-${Math.max(size - 1, 0)}` },
        },
      );
    }
    const { blockIds, bytes } = await stageBlocks(upload, data);
    if (blockIds.length === 0) return size;
    // If another append commits after this read, the ETag condition below refuses our list.
    const committed = await upload.getBlockList('committed');
    try {
      await upload.commitBlockList(
        [...(committed.committedBlocks ?? []).map((block) => block.name), ...blockIds],
        { conditions: { ifMatch: etag } },
      );
    } catch (error) {
      // Another chunk (on this replica or another) committed first: this one is refused whole.
      if (hasStatus(error, 412) || hasStatus(error, 409)) {
        throw new RegistryError('RANGE_INVALID', 'another chunk of this upload was written first', {
          status: 416,
        });
      }
      if (hasStatus(error, 404)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      throw error;
    }
    return size + bytes;
  }

  async commitUpload(id: string, digest: Digest): Promise<BlobInfo> {
    const upload = this.upload(id);
    let etag: string | undefined;
    let size: number;
    try {
      const properties = await upload.getProperties();
      etag = properties.etag;
      size = properties.contentLength ?? 0;
    } catch (error) {
      if (hasStatus(error, 404)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      throw error;
    }
    const target = this.blob(digest.value);
    const alreadyPublished = (await this.stat(digest.value)) !== undefined;
    const hash = createDigester(digest.algorithm);
    const source = (await upload.download(0, undefined, { conditions: { ifMatch: etag } }))
      .readableStreamBody;
    if (!source) throw new Error('Azure download returned no stream');
    const hashing = Readable.from(
      (async function* () {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          hash.update(chunk);
          yield chunk;
        }
      })(),
    );
    // Content already published only needs verifying; new content is staged while it is hashed.
    const blockIds = alreadyPublished
      ? await drain(hashing)
      : (await stageBlocks(target, hashing)).blockIds;
    const actual = hash.digest('hex');
    if (actual !== digest.encoded) {
      // The staged blocks were never committed: the blob does not exist, and Azure discards
      // uncommitted blocks on its own.
      await upload.deleteIfExists();
      throw new RegistryError('DIGEST_INVALID', undefined, {
        detail: { expected: digest.value, actual: `${digest.algorithm}:${actual}` },
      });
    }
    if (!alreadyPublished) {
      try {
        await target.commitBlockList(blockIds, { conditions: { ifNoneMatch: '*' } });
      } catch (error) {
        // The same content was published concurrently: that copy is as good as ours.
        if (!hasStatus(error, 409) && !hasStatus(error, 412)) throw error;
      }
    }
    await upload.deleteIfExists();
    return { digest: digest.value, size };
  }

  async cancelUpload(id: string): Promise<void> {
    await this.upload(id).deleteIfExists();
  }

  async *listUploads(): AsyncIterable<{ id: string; modified: Date }> {
    for await (const item of this.container.listBlobsFlat({ prefix: 'uploads/' })) {
      yield { id: item.name.slice('uploads/'.length), modified: item.properties.lastModified };
    }
  }

  async close(): Promise<void> {
    // The SDK holds no resources that need closing (its HTTP agent's sockets are kept alive).
  }
}

/**
 * Stages `data` as blocks of `blob` (at most BLOCK_SIZE each, one at a time so the source is
 * paused while a block is sent). Block ids are random, so concurrent writers never overwrite
 * each other's blocks; nothing is committed here.
 */
async function stageBlocks(
  blob: BlockBlobClient,
  data: Readable,
): Promise<{ blockIds: string[]; bytes: number }> {
  const blockIds: string[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let bytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const block = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    // Every id of one blob must have the same length: a UUID always does.
    const blockId = Buffer.from(randomUUID()).toString('base64');
    await blob.stageBlock(blockId, block, block.length);
    blockIds.push(blockId);
  };
  for await (const chunk of data as AsyncIterable<Buffer>) {
    let rest = chunk;
    while (rest.length > 0) {
      const take = Math.min(rest.length, BLOCK_SIZE - pendingBytes);
      pending.push(rest.subarray(0, take));
      pendingBytes += take;
      bytes += take;
      rest = rest.subarray(take);
      if (pendingBytes === BLOCK_SIZE) await flush();
    }
  }
  await flush();
  return { blockIds, bytes };
}

/** Reads `data` to the end (for its side effects, e.g. hashing); no blocks. */
async function drain(data: Readable): Promise<string[]> {
  for await (const _chunk of data as AsyncIterable<Buffer>) {
    // consumed for the hash only
  }
  return [];
}

function hasStatus(error: unknown, status: number): boolean {
  return error instanceof RestError && error.statusCode === status;
}
