/**
 * Units of the services' pure parts: import's image and endpoint rules, and the environment a
 * run gets (image env with overrides). The services themselves are tested end to end against a
 * live server in test/services/.
 */
import { describe, expect, it } from 'vitest';
import { externalEndpoint, splitImage } from './image-import.js';
import { mergeEnvironment } from './image-pull.js';

describe('import source images', () => {
  it('splits repository and tag or digest; a bare repository means latest', () => {
    expect(splitImage('app:v1')).toEqual({ repository: 'app', reference: 'v1' });
    expect(splitImage('team/app')).toEqual({ repository: 'team/app', reference: 'latest' });
    expect(splitImage(`team/app@sha256:${'a'.repeat(64)}`)).toEqual({
      repository: 'team/app',
      reference: `sha256:${'a'.repeat(64)}`,
    });
  });

  it('reaches loopback registries over plain HTTP (as Docker does), others over HTTPS', () => {
    expect(externalEndpoint('127.0.0.1:5001')).toBe('http://127.0.0.1:5001');
    expect(externalEndpoint('localhost:5001/')).toBe('http://localhost:5001');
    expect(externalEndpoint('[::1]:5001')).toBe('http://[::1]:5001');
    expect(externalEndpoint('registry.example.com')).toBe('https://registry.example.com');
    expect(externalEndpoint('http://registry.internal:80')).toBe('http://registry.internal:80');
  });
});

describe('a run environment', () => {
  it("keeps the image's variables and lets the resource's override them", () => {
    expect(mergeEnvironment(['PATH=/bin', 'MODE=image'], { MODE: 'run', EXTRA: 'x' })).toEqual([
      'PATH=/bin',
      'MODE=run',
      'EXTRA=x',
    ]);
    expect(mergeEnvironment(undefined, {})).toEqual([]);
  });
});
