/**
 * @module storage/blob-store.suite
 * The contract every BlobStore driver must pass. A driver's test file calls
 * `blobStoreContract(name, () => openDriver())` and nothing else.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigest } from '../core/digest.js';
import type { BlobStore } from './blob-store.js';

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function sha512(bytes: Buffer): string {
  return `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
}

/** A stream that emits `bytes` and then fails, like a client that disconnects mid-chunk. */
/** Yields `chunks` one per read, then fails as a client that went away. */
function failingStream(...chunks: Buffer[]): Readable {
  const left = [...chunks];
  return new Readable({
    read() {
      const next = left.shift();
      if (next) this.push(next);
      else this.destroy(new Error('client went away'));
    },
  });
}

export function blobStoreContract(driverName: string, openStore: () => Promise<BlobStore>): void {
  describe(`BlobStore contract: ${driverName}`, () => {
    let store: BlobStore;
    beforeEach(async () => {
      store = await openStore();
    });
    afterEach(async () => {
      await store.close();
    });

    async function upload(bytes: Buffer, chunks = 1): Promise<string> {
      const id = randomUUID();
      await store.createUpload(id);
      const size = Math.ceil(bytes.length / chunks);
      let offset = 0;
      while (offset < bytes.length || (offset === 0 && bytes.length === 0)) {
        const part = bytes.subarray(offset, offset + size);
        offset = await store.appendUpload(id, Readable.from([part]), offset);
        if (bytes.length === 0) break;
      }
      return id;
    }

    it('publishes a blob only after its digest is verified', async () => {
      const bytes = randomBytes(300_000);
      const digest = sha256(bytes);
      const id = await upload(bytes, 3);
      expect(await store.stat(digest)).toBeUndefined();
      expect(await store.uploadSize(id)).toBe(bytes.length);
      const info = await store.commitUpload(id, parseDigest(digest));
      expect(info).toEqual({ digest, size: bytes.length });
      expect(await store.stat(digest)).toEqual({ digest, size: bytes.length });
      expect(await buffer(await store.read(digest))).toEqual(bytes);
      expect(await store.uploadSize(id)).toBeUndefined();
    });

    it('publishes a blob larger than one transfer buffer, and only with the right digest', async () => {
      // Past the drivers' buffers (S3's 5 MiB parts, Azure's 8 MiB blocks), in uneven chunks.
      const bytes = randomBytes(12 * 1024 * 1024 + 123);
      const digest = sha256(bytes);
      const wrong = sha256(bytes.subarray(1));
      await expect(
        store.commitUpload(await upload(bytes, 2), parseDigest(wrong)),
      ).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
      expect(await store.stat(wrong)).toBeUndefined();
      expect(await store.stat(digest)).toBeUndefined();
      await store.commitUpload(await upload(bytes, 2), parseDigest(digest));
      expect(await store.stat(digest)).toEqual({ digest, size: bytes.length });
      expect((await buffer(await store.read(digest))).equals(bytes)).toBe(true);
    });

    it('refuses a digest mismatch and leaves nothing behind', async () => {
      const bytes = randomBytes(1000);
      const wrong = sha256(Buffer.from('something else'));
      const id = await upload(bytes);
      await expect(store.commitUpload(id, parseDigest(wrong))).rejects.toMatchObject({
        code: 'DIGEST_INVALID',
      });
      expect(await store.stat(wrong)).toBeUndefined();
      expect(await store.stat(sha256(bytes))).toBeUndefined();
      expect(await store.uploadSize(id)).toBeUndefined();
    });

    it('verifies sha512 digests', async () => {
      const bytes = randomBytes(5000);
      const id = await upload(bytes, 2);
      const digest = sha512(bytes);
      await store.commitUpload(id, parseDigest(digest));
      expect(await buffer(await store.read(digest))).toEqual(bytes);
    });

    it('stores the empty blob', async () => {
      const bytes = Buffer.alloc(0);
      const id = await upload(bytes);
      const digest = sha256(bytes);
      expect(await store.commitUpload(id, parseDigest(digest))).toEqual({ digest, size: 0 });
      expect(await buffer(await store.read(digest))).toEqual(bytes);
    });

    it('reads inclusive byte ranges', async () => {
      const bytes = randomBytes(10_000);
      const digest = sha256(bytes);
      await store.commitUpload(await upload(bytes), parseDigest(digest));
      const part = await buffer(await store.read(digest, { start: 100, end: 1099 }));
      expect(part).toEqual(bytes.subarray(100, 1100));
    });

    it('refuses an append at the wrong offset with 416 and keeps the upload intact', async () => {
      const bytes = randomBytes(2000);
      const id = await upload(bytes);
      await expect(
        store.appendUpload(id, Readable.from([Buffer.from('x')]), 10),
      ).rejects.toMatchObject({ code: 'RANGE_INVALID', status: 416 });
      expect(await store.uploadSize(id)).toBe(2000);
      await store.commitUpload(id, parseDigest(sha256(bytes)));
    });

    it('takes one of two chunks raced at the same offset and refuses the other whole', async () => {
      const first = randomBytes(1000);
      const id = await upload(first);
      const results = await Promise.allSettled([
        store.appendUpload(id, Readable.from([randomBytes(3000)]), 1000),
        store.appendUpload(id, Readable.from([randomBytes(5000)]), 1000),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({
        reason: { code: 'RANGE_INVALID', status: 416 },
      });
      expect(await store.uploadSize(id)).toBe((won[0] as PromiseFulfilledResult<number>).value);
    });

    it('rolls a failed chunk back so the upload can resume', async () => {
      const first = randomBytes(1000);
      const second = randomBytes(1000);
      const id = await upload(first);
      await expect(store.appendUpload(id, failingStream(randomBytes(500)), 1000)).rejects.toThrow();
      expect(await store.uploadSize(id)).toBe(1000);
      await store.appendUpload(id, Readable.from([second]), 1000);
      const whole = Buffer.concat([first, second]);
      await store.commitUpload(id, parseDigest(sha256(whole)));
      expect(await buffer(await store.read(sha256(whole)))).toEqual(whole);
    });

    it('rolls back a failed chunk of several MiB, written while more arrived', async () => {
      const first = randomBytes(3 * 1024 * 1024 + 7);
      const lost = Array.from({ length: 6 }, () => randomBytes(1024 * 1024 + 1));
      const second = randomBytes(2 * 1024 * 1024);
      const id = await upload(first, 3);
      await expect(store.appendUpload(id, failingStream(...lost), first.length)).rejects.toThrow();
      expect(await store.uploadSize(id)).toBe(first.length);
      await store.appendUpload(id, Readable.from([second]), first.length);
      const whole = Buffer.concat([first, second]);
      await store.commitUpload(id, parseDigest(sha256(whole)));
      expect((await buffer(await store.read(sha256(whole)))).equals(whole)).toBe(true);
    });

    it('deduplicates: committing published content again keeps one blob', async () => {
      const bytes = randomBytes(4096);
      const digest = sha256(bytes);
      await store.commitUpload(await upload(bytes), parseDigest(digest));
      await store.commitUpload(await upload(bytes), parseDigest(digest));
      const listed = [];
      for await (const d of store.list()) if (d === digest) listed.push(d);
      expect(listed).toEqual([digest]);
    });

    it('reports unknown blobs and uploads', async () => {
      const missing = sha256(randomBytes(10));
      expect(await store.stat(missing)).toBeUndefined();
      await expect(store.read(missing)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
      expect(await store.delete(missing)).toBe(false);
      expect(await store.uploadSize(randomUUID())).toBeUndefined();
      await expect(
        store.appendUpload(randomUUID(), Readable.from([Buffer.from('x')]), 0),
      ).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
      await expect(store.uploadSize('../../etc')).rejects.toMatchObject({
        code: 'BLOB_UPLOAD_UNKNOWN',
      });
    });

    it('deletes blobs and cancels uploads', async () => {
      const bytes = randomBytes(100);
      const digest = sha256(bytes);
      await store.commitUpload(await upload(bytes), parseDigest(digest));
      expect(await store.delete(digest)).toBe(true);
      expect(await store.stat(digest)).toBeUndefined();
      const id = await upload(bytes);
      await store.cancelUpload(id);
      expect(await store.uploadSize(id)).toBeUndefined();
      await store.cancelUpload(id);
    });

    it('reads back what an upload holds, in order, without publishing it', async () => {
      const bytes = randomBytes(200_000);
      const id = await upload(bytes, 3);
      expect(await buffer(await store.readUpload(id))).toEqual(bytes);
      expect(await store.stat(sha256(bytes))).toBeUndefined();
      // Still an upload: it can grow, and be read again.
      const more = randomBytes(10);
      await store.appendUpload(id, Readable.from([more]), bytes.length);
      expect(await buffer(await store.readUpload(id))).toEqual(Buffer.concat([bytes, more]));
      await store.cancelUpload(id);
      await expect(store.readUpload(id)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
      await expect(store.readUpload('../../etc')).rejects.toMatchObject({
        code: 'BLOB_UPLOAD_UNKNOWN',
      });
    });

    it('lists uploads for expiry', async () => {
      const id = await upload(randomBytes(10));
      const ids = [];
      for await (const entry of store.listUploads()) ids.push(entry.id);
      expect(ids).toContain(id);
    });
  });
}
