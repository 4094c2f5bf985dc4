/**
 * @module core/digest
 * Content digests (`algorithm:encoded`) as the OCI image spec defines them. We verify sha256 and
 * sha512, the two registered algorithms; any other well-formed algorithm is refused as
 * unsupported rather than stored unverified.
 */
import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface Digest {
  algorithm: DigestAlgorithm;
  /** Lower-case hex. */
  encoded: string;
  /** `algorithm:encoded`. */
  value: string;
}

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

// Grammar from the image spec: algorithm-component ([+._-] algorithm-component)* ":" encoded
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** True when the string matches the digest grammar (any algorithm). */
export function looksLikeDigest(value: string): boolean {
  return DIGEST_GRAMMAR.test(value);
}

/**
 * Parses and validates a digest. Throws DIGEST_INVALID for anything malformed or unsupported,
 * so a bad digest is always a 400 with a body, never a 5xx.
 */
export function parseDigest(value: string): Digest {
  if (!DIGEST_GRAMMAR.test(value)) {
    throw new RegistryError('DIGEST_INVALID', `invalid digest '${truncate(value)}'`);
  }
  const separator = value.indexOf(':');
  const algorithm = value.slice(0, separator);
  const encoded = value.slice(separator + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new RegistryError(
      'DIGEST_INVALID',
      `unsupported digest algorithm '${truncate(algorithm)}'`,
    );
  }
  if (encoded.length !== ENCODED_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(encoded)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${algorithm} digest '${truncate(value)}'`);
  }
  return { algorithm, encoded, value };
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}...` : value;
}
