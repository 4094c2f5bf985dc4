/**
 * @module storage/s3-blob-store
 * Blobs in an S3 bucket (AWS S3 or any S3-compatible service), shared by every replica.
 *
 * ```
 * <bucket>/
 *   blobs/sha256/<hex>                  published blob, named by its digest, never modified
 *   uploads/<upload id>/.session        marks the upload as existing
 *   uploads/<upload id>/<offset>        one object per appended chunk (offset: 16 digits)
 * ```
 *
 * S3 objects cannot be appended to, so each chunk is its own object, written whole or not at
 * all (a single PUT, or a multipart upload that is completed only once the chunk has been fully
 * received and aborted otherwise): a chunk that fails midway leaves nothing, which is the
 * rollback. The upload's size is the sum of its chunks.
 *
 * Publishing reads the chunks in order once, hashing them and writing the same bytes as the
 * destination object; the destination is completed (single PUT for small blobs, the multipart
 * upload's CompleteMultipartUpload otherwise) only after the digest matched, so nothing partial
 * or unverified is ever readable.
 *
 * Concurrency: a second append to the same upload is refused within one process (like the
 * filesystem driver). Plain S3 has no compare-and-swap that every S3-compatible server
 * supports, so two replicas appending to one upload at the same offset at the same instant are
 * not told apart; OCI clients send an upload's chunks one after another.
 *
 * Memory stays flat: bytes are buffered in parts of `PART_SIZE` (S3's minimum multipart part),
 * one part per transfer at a time.
 */
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type _Object,
} from '@aws-sdk/client-s3';
import { createDigester, parseDigest, type Digest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import type { BlobInfo, BlobStore, ByteRange } from './blob-store.js';

/** S3's smallest multipart part (all but the last): the buffer size of one transfer. */
const PART_SIZE = 5 * 1024 * 1024;
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;
const SESSION = '.session';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Empty = AWS; else the S3-compatible service's URL (path-style addressing is used). */
  endpoint: string;
  region: string;
  /** Explicit keys; by default the AWS SDK's chain (AWS_ACCESS_KEY_ID..., profiles, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export class S3BlobStore implements BlobStore {
  /** Uploads with an append in flight in this process. */
  private readonly appending = new Set<string>();

  private constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  /** Opens the bucket (created if missing); credentials come from the AWS SDK's usual chain. */
  static async open(options: S3BlobStoreOptions): Promise<S3BlobStore> {
    const s3 = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
    try {
      await s3.send(new HeadBucketCommand({ Bucket: options.bucket }));
    } catch (error) {
      if (!isMissing(error)) throw error;
      await s3.send(new CreateBucketCommand({ Bucket: options.bucket }));
    }
    return new S3BlobStore(s3, options.bucket);
  }

  private blobKey(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return `blobs/${algorithm}/${encoded}`;
  }

  private uploadPrefix(id: string): string {
    // Upload ids come from URLs: refuse anything that is not a plain name.
    if (!UPLOAD_ID.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return `uploads/${id}/`;
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const head = await this.s3.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }),
      );
      return { digest, size: head.ContentLength ?? 0 };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    try {
      const response = await this.s3.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.blobKey(digest),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      return response.Body as Readable;
    } catch (error) {
      if (isMissing(error)) {
        throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
      }
      throw error;
    }
  }

  async delete(digest: string): Promise<boolean> {
    if (!(await this.stat(digest))) return false;
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }));
    return true;
  }

  async *list(): AsyncIterable<string> {
    for await (const object of this.objects('blobs/')) {
      const [, algorithm, encoded] = object.Key!.split('/');
      if (algorithm && encoded) yield `${algorithm}:${encoded}`;
    }
  }

  private async *objects(prefix: string): AsyncIterable<_Object> {
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const object of page.Contents ?? []) yield object;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** The upload's chunks in order, or undefined when the upload does not exist. */
  private async chunks(id: string): Promise<_Object[] | undefined> {
    const prefix = this.uploadPrefix(id);
    let exists = false;
    const chunks: _Object[] = [];
    for await (const object of this.objects(prefix)) {
      const name = object.Key!.slice(prefix.length);
      if (name === SESSION) exists = true;
      else chunks.push(object);
    }
    if (!exists) return undefined;
    // Keys are zero-padded offsets: key order is byte order.
    return chunks.sort((a, b) => (a.Key! < b.Key! ? -1 : 1));
  }

  async createUpload(id: string): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `${this.uploadPrefix(id)}${SESSION}`,
        Body: Buffer.alloc(0),
      }),
    );
  }

  async uploadSize(id: string): Promise<number | undefined> {
    const chunks = await this.chunks(id);
    return chunks?.reduce((total, chunk) => total + (chunk.Size ?? 0), 0);
  }

  async appendUpload(id: string, data: Readable, offset: number): Promise<number> {
    const prefix = this.uploadPrefix(id);
    if (this.appending.has(id)) {
      data.resume();
      throw new RegistryError('RANGE_INVALID', 'another chunk of this upload is in flight', {
        status: 416,
      });
    }
    this.appending.add(id);
    try {
      const size = await this.uploadSize(id);
      if (size === undefined) {
        data.resume();
        throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      }
      if (size !== offset) {
        data.resume();
        throw new RegistryError(
          'RANGE_INVALID',
          `chunk starts at ${offset}, upload has ${size} bytes`,
          { status: 416, headers: { Range: `0-${Math.max(size - 1, 0)}` } },
        );
      }
      const key = `${prefix}${String(offset).padStart(16, '0')}`;
      const written = await this.writeObject(key, data, { skipEmpty: true });
      return size + written;
    } finally {
      this.appending.delete(id);
    }
  }

  async readUpload(id: string): Promise<Readable> {
    const chunks = await this.chunks(id);
    if (!chunks) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    const s3 = this.s3;
    const bucket = this.bucket;
    return Readable.from(
      (async function* () {
        for (const chunk of chunks) {
          const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: chunk.Key }));
          yield* response.Body as AsyncIterable<Buffer>;
        }
      })(),
    );
  }

  async commitUpload(id: string, digest: Digest): Promise<BlobInfo> {
    if (this.appending.has(id)) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'a chunk of this upload is still in flight');
    }
    const chunks = await this.chunks(id);
    if (!chunks) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    const size = chunks.reduce((total, chunk) => total + (chunk.Size ?? 0), 0);
    const hash = createDigester(digest.algorithm);
    const s3 = this.s3;
    const bucket = this.bucket;
    const source = Readable.from(
      (async function* () {
        for (const chunk of chunks) {
          const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: chunk.Key }));
          for await (const bytes of response.Body as AsyncIterable<Buffer>) {
            hash.update(bytes);
            yield bytes;
          }
        }
      })(),
    );
    const verify = () => {
      const actual = hash.digest('hex');
      if (actual !== digest.encoded) {
        throw new RegistryError('DIGEST_INVALID', undefined, {
          detail: { expected: digest.value, actual: `${digest.algorithm}:${actual}` },
        });
      }
    };
    try {
      if (await this.stat(digest.value)) {
        // Already published: the content only needs verifying.
        for await (const _bytes of source as AsyncIterable<Buffer>) {
          // hashed on the way
        }
        verify();
      } else {
        await this.writeObject(this.blobKey(digest.value), source, { beforeComplete: verify });
      }
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'DIGEST_INVALID') {
        await this.cancelUpload(id);
      }
      throw error;
    }
    await this.cancelUpload(id);
    return { digest: digest.value, size };
  }

  async cancelUpload(id: string): Promise<void> {
    const keys: string[] = [];
    for await (const object of this.objects(this.uploadPrefix(id))) keys.push(object.Key!);
    for (let i = 0; i < keys.length; i += 1000) {
      await this.s3.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
  }

  async *listUploads(): AsyncIterable<{ id: string; modified: Date }> {
    const latest = new Map<string, Date>();
    for await (const object of this.objects('uploads/')) {
      const id = object.Key!.split('/')[1]!;
      const modified = object.LastModified ?? new Date(0);
      const seen = latest.get(id);
      if (!seen || seen < modified) latest.set(id, modified);
    }
    for (const [id, modified] of latest) yield { id, modified };
  }

  async close(): Promise<void> {
    this.s3.destroy();
  }

  /**
   * Writes `data` as the object `key`, all or nothing: up to PART_SIZE in one PUT, else a
   * multipart upload of PART_SIZE parts. `beforeComplete` runs after the last byte was read and
   * before the object becomes visible; if it throws, nothing is written. Written by hand
   * because @aws-sdk/lib-storage's Upload completes on its own at the end of the stream, with
   * no point to check a digest first. Resolves the number of bytes written.
   */
  private async writeObject(
    key: string,
    data: Readable,
    options: { beforeComplete?: () => void; skipEmpty?: boolean },
  ): Promise<number> {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let total = 0;
    let multipart: { uploadId: string; parts: { ETag: string; PartNumber: number }[] } | undefined;
    const sendPart = async () => {
      if (!multipart) {
        const created = await this.s3.send(
          new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }),
        );
        multipart = { uploadId: created.UploadId!, parts: [] };
      }
      const body = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      const partNumber = multipart.parts.length + 1;
      const part = await this.s3.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: multipart.uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
        }),
      );
      multipart.parts.push({ ETag: part.ETag!, PartNumber: partNumber });
    };
    try {
      for await (const chunk of data as AsyncIterable<Buffer>) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        total += chunk.length;
        // Parts are sent once a whole part and a byte more is known, so the last part is never
        // empty and never the only one below the minimum unless the object is small.
        while (pendingBytes > PART_SIZE) {
          const all = Buffer.concat(pending, pendingBytes);
          pending = [all.subarray(0, PART_SIZE)];
          pendingBytes = PART_SIZE;
          const rest = all.subarray(PART_SIZE);
          await sendPart();
          pending = [rest];
          pendingBytes = rest.length;
        }
      }
      options.beforeComplete?.();
      if (!multipart) {
        if (total === 0 && options.skipEmpty) return 0;
        const body = Buffer.concat(pending, pendingBytes);
        await this.s3.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
          }),
        );
        return total;
      }
      if (pendingBytes > 0) await sendPart();
      await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: multipart.uploadId,
          MultipartUpload: { Parts: multipart.parts },
        }),
      );
      return total;
    } catch (error) {
      if (multipart) {
        await this.s3
          .send(
            new AbortMultipartUploadCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: multipart.uploadId,
            }),
          )
          .catch(() => undefined);
      }
      throw error;
    }
  }
}

function isMissing(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.$metadata.httpStatusCode === 404 ||
      error.name === 'NotFound' ||
      error.name === 'NoSuchKey' ||
      error.name === 'NoSuchBucket')
  );
}
