import { describe, expect, it } from 'vitest';
import { matchRoute } from './routes.js';

describe('matchRoute', () => {
  it.each([
    ['/v2/', { name: 'base' }],
    ['/v2', { name: 'base' }],
    ['/v2/_catalog', { name: 'catalog' }],
    ['/v2/a/b/c/tags/list', { name: 'tags', repository: 'a/b/c' }],
    ['/v2/app/manifests/latest', { name: 'manifest', repository: 'app', reference: 'latest' }],
    ['/v2/app/blobs/sha256:abc', { name: 'blob', repository: 'app', reference: 'sha256:abc' }],
    ['/v2/app/blobs/uploads/', { name: 'upload-start', repository: 'app' }],
    ['/v2/app/blobs/uploads', { name: 'upload-start', repository: 'app' }],
    ['/v2/app/blobs/uploads/123-abc', { name: 'upload', repository: 'app', reference: '123-abc' }],
    [
      '/v2/app/referrers/sha256:abc',
      { name: 'referrers', repository: 'app', reference: 'sha256:abc' },
    ],
    // Repository names may contain route words as components: the last suffix wins.
    [
      '/v2/x/manifests/y/manifests/v1',
      { name: 'manifest', repository: 'x/manifests/y', reference: 'v1' },
    ],
    ['/v2/blobs/blobs/uploads/', { name: 'upload-start', repository: 'blobs' }],
    ['/v2/tags/tags/list', { name: 'tags', repository: 'tags' }],
  ])('%s', (path, expected) => {
    expect(matchRoute(path)).toEqual(expected);
  });

  it.each(['/v2/UPPER/tags/list', '/v2/a//b/tags/list', '/v2/-a/tags/list', '/v2/a/nothing'])(
    'refuses %s with NAME_INVALID',
    (path) => {
      expect(() => matchRoute(path)).toThrow(expect.objectContaining({ code: 'NAME_INVALID' }));
    },
  );

  it('refuses a malformed escape as a client error', () => {
    expect(() => matchRoute('/v2/app/manifests/%E0%A4%A')).toThrow(
      expect.objectContaining({ code: 'DIGEST_INVALID' }),
    );
  });
});
