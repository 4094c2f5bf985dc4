/**
 * @module core/reference
 * Repository names and references (tags or digests), with the OCI Distribution Spec's grammar.
 */
import { looksLikeDigest, parseDigest, type Digest } from './digest.js';
import { RegistryError } from './errors.js';

// <name> per the spec: path components separated by '/', each [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
const NAME_GRAMMAR =
  /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Distribution caps names at 255 characters; ACR at 256 including the login server. */
export const MAX_NAME_LENGTH = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_GRAMMAR.test(name);
}

export function assertRepositoryName(name: string): string {
  if (!isValidRepositoryName(name)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name '${name.slice(0, 300)}'`);
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG_GRAMMAR.test(tag);
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/**
 * A manifest reference is a tag or a digest. Anything containing ':' is read as a digest, since
 * tags cannot contain ':'; a malformed one is DIGEST_INVALID, a malformed tag MANIFEST_INVALID
 * (a push of it is a 400; reads map it to MANIFEST_UNKNOWN).
 */
export function parseReference(reference: string): Reference {
  if (reference.includes(':')) {
    if (!looksLikeDigest(reference)) {
      throw new RegistryError(
        'DIGEST_INVALID',
        `invalid digest reference '${reference.slice(0, 200)}'`,
      );
    }
    return { kind: 'digest', digest: parseDigest(reference) };
  }
  if (!isValidTag(reference)) {
    throw new RegistryError('MANIFEST_INVALID', `invalid tag '${reference.slice(0, 200)}'`, {
      detail: { tag: reference.slice(0, 200) },
    });
  }
  return { kind: 'tag', tag: reference };
}
