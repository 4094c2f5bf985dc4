/**
 * @module registry/http-utils
 * Small HTTP parsing helpers for the data plane: ranges, pagination, bounded bodies.
 */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../core/errors.js';
import type { ByteRange } from '../storage/index.js';

/**
 * Parses a `Range: bytes=a-b` request header against a blob of `size` bytes. Returns undefined
 * when the whole blob should be served (no header, or a form we do not serve, such as several
 * ranges: RFC 9110 lets a server ignore Range). Throws 416 when the range cannot be satisfied.
 */
export function parseRangeHeader(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  let start: number;
  let end: number;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    // Suffix range: the last N bytes.
    const length = Number(last);
    if (length === 0) throw unsatisfiable(size);
    start = Math.max(size - length, 0);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  }
  if (!Number.isSafeInteger(start) || start >= size || end < start) throw unsatisfiable(size);
  return { start, end };
}

function unsatisfiable(size: number): RegistryError {
  return new RegistryError('RANGE_INVALID', 'requested range not satisfiable', {
    status: 416,
    headers: { 'Content-Range': `bytes */${size}` },
  });
}

/**
 * Parses an upload chunk's `Content-Range: <start>-<end>` (the spec's form; a `bytes ` prefix
 * and a `/total` suffix are tolerated). Returns the start offset and the length it announces.
 */
export function parseContentRange(
  header: string | undefined,
): { start: number; length: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) {
    throw new RegistryError('RANGE_INVALID', `invalid Content-Range '${header.slice(0, 100)}'`, {
      status: 416,
    });
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new RegistryError('RANGE_INVALID', `invalid Content-Range '${header.slice(0, 100)}'`, {
      status: 416,
    });
  }
  return { start, length: end - start + 1 };
}

/** Upload `Range` header value for `size` bytes received (`0-0` before the first byte). */
export function uploadRange(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

/** The `n` pagination parameter: a non-negative integer, or undefined when absent. */
export function parsePageSize(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) {
    throw new RegistryError(
      'PAGINATION_NUMBER_INVALID',
      `invalid page size n='${value.slice(0, 50)}'`,
    );
  }
  return Number(value);
}

/** Declared body length, or undefined for chunked transfer. */
export function contentLength(request: IncomingMessage): number | undefined {
  const header = request.headers['content-length'];
  if (header === undefined) return undefined;
  const value = Number(header);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RegistryError('SIZE_INVALID', 'invalid Content-Length');
  }
  return value;
}

/** True when the request carries a body (a length above zero, or chunked encoding). */
export function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return request.headers['transfer-encoding'] !== undefined;
}

/**
 * Reads a small body (a manifest) whole, refusing more than `limit` bytes as soon as it is seen,
 * so an oversized body never sits in memory.
 */
export async function readBoundedBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = contentLength(request);
  if (declared !== undefined && declared > limit) {
    request.resume();
    throw tooLarge(limit);
  }
  const parts: Buffer[] = [];
  let received = 0;
  for await (const chunk of request) {
    received += (chunk as Buffer).length;
    if (received > limit) {
      request.resume();
      throw tooLarge(limit);
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

function tooLarge(limit: number): RegistryError {
  return new RegistryError('SIZE_INVALID', `manifest too large: the limit is ${limit} bytes`, {
    status: 413,
    detail: { limit },
  });
}

/** Discards an unwanted body so the connection can be reused. */
export function drain(request: IncomingMessage): void {
  if (!request.readableEnded) request.resume();
}
