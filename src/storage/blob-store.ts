/**
 * @module storage/blob-store
 * The content-addressed blob store contract. Every driver (filesystem now; Azure Blob and S3
 * later) implements it and passes `blob-store.suite.ts`.
 *
 * Two kinds of object:
 * - **published blobs**, addressed by digest, immutable, readable by anyone the registry lets in;
 * - **uploads**, append-only temporary objects named by an upload id.
 *
 * The one rule that matters: bytes become a published blob only through `commitUpload`, which
 * verifies the digest first. A failed or interrupted write never leaves a published blob behind.
 */
import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../core/digest.js';

export interface BlobInfo {
  digest: string;
  size: number;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobSender {
  /** Writes the bytes to `destination`, which stays open; rejects if it closes first. */
  sendTo(destination: Writable): Promise<void>;
  close(): Promise<void>;
}

export interface BlobStore {
  /** The published blob's size, or undefined when it does not exist. */
  stat(digest: string): Promise<BlobInfo | undefined>;

  /**
   * Streams a published blob, or the inclusive `range` of it. The caller has checked the range
   * against `stat`. Throws BLOB_UNKNOWN when the blob does not exist.
   */
  read(digest: string, range?: ByteRange): Promise<Readable>;

  /**
   * Optional fast path for serving a blob: opens it (BLOB_UNKNOWN when it does not exist) and
   * returns a sender that writes it, or `range` of it, with reused buffers (see file-sender).
   * Stores without it are served through `read`. The caller closes the sender.
   */
  openSender?(digest: string, range?: ByteRange): Promise<BlobSender>;

  /** Removes a published blob; false when it did not exist. Readers already streaming finish. */
  delete(digest: string): Promise<boolean>;

  /** Every published blob's digest (for garbage collection). */
  list(): AsyncIterable<string>;

  /** Creates an empty upload. */
  createUpload(id: string): Promise<void>;

  /** Bytes received so far, or undefined when the upload does not exist. */
  uploadSize(id: string): Promise<number | undefined>;

  /**
   * Appends a stream to an upload that holds exactly `offset` bytes. Resolves with the new size.
   * Throws BLOB_UPLOAD_UNKNOWN for a missing upload, RANGE_INVALID (416) when `offset` is not
   * the current size or another append is in flight. When the stream fails midway the upload is
   * rolled back to `offset`, so a client can resume from what GET status reports.
   */
  appendUpload(id: string, data: Readable, offset: number): Promise<number>;

  /**
   * Verifies the upload against `digest` and publishes it. On a mismatch throws DIGEST_INVALID
   * and discards the upload. Publishing is atomic and durable: after it resolves the blob
   * survives a crash; before, nothing of it is visible. Committing content that is already
   * published simply discards the upload (deduplication).
   */
  commitUpload(id: string, digest: Digest): Promise<BlobInfo>;

  /** Discards an upload; a missing one is not an error. */
  cancelUpload(id: string): Promise<void>;

  /** Ids of uploads and when they last changed (for expiring abandoned ones). */
  listUploads(): AsyncIterable<{ id: string; modified: Date }>;

  close(): Promise<void>;
}
