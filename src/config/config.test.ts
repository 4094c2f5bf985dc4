import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, loadConfig, parseListenAddress } from './config.js';

function configFile(content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'breakwater-config-')), 'config.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('loadConfig', () => {
  it('starts from the embedded defaults', () => {
    expect(loadConfig({ env: {} })).toEqual({ ...DEFAULT_CONFIG, data: resolve('./.breakwater') });
  });

  it('layers file < environment < flags', () => {
    const file = configFile({
      listen: '127.0.0.1:6000',
      data: '/tmp/from-file',
      logLevel: 'debug',
    });
    const config = loadConfig({
      env: {
        BREAKWATER_CONFIG: file,
        BREAKWATER_LISTEN: '127.0.0.1:7000',
        BREAKWATER_MAX_MANIFEST_BYTES: '1000',
      },
      flags: { listen: '[::1]:8000' },
    });
    expect(config.data).toBe('/tmp/from-file');
    expect(config.logLevel).toBe('debug');
    expect(config.maxManifestBytes).toBe(1000);
    expect(config.listen).toBe('[::1]:8000');
  });

  it.each([
    [{ unknownKey: 1 }, "unknown setting 'unknownKey'"],
    [{ maxManifestBytes: -5 }, "'maxManifestBytes' must be a positive number"],
    [{ logLevel: 'loud' }, "'logLevel' must be one of"],
    [{ listen: 'nonsense' }, "listen address 'nonsense' must be HOST:PORT"],
    [{ metadataUrl: 'mysql://db/x' }, "'metadataUrl' must be a postgres:// URL"],
    [{ advertisedHosts: ['lb.example'] }, "listen address 'lb.example' must be HOST:PORT"],
    [{ storage: 'ftp://x' }, "'storage' must be azure://<container> or s3://<bucket>"],
    [{ storage: 's3://No_Such' }, 'is not a valid S3 bucket name'],
    [{ storage: 's3://blobs', s3Endpoint: 'localhost:9000' }, "'s3Endpoint' must be an http"],
    [{ storage: 'azure://Bad_Name' }, 'is not a valid Azure container name'],
    [{ storage: 'azure://blobs' }, "needs 'storageConnectionString'"],
    ['{not json', 'is not valid JSON'],
    ['[]', 'must hold a JSON object'],
  ])('refuses %j naming the problem', (content, message) => {
    expect(() => loadConfig({ env: {}, flags: { config: configFile(content) } })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ env: {}, flags: { config: configFile(content) } })).toThrow(message);
  });

  it('parses IPv4 and IPv6 listen addresses', () => {
    expect(parseListenAddress('127.0.0.1:5000')).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => parseListenAddress('127.0.0.1:70000')).toThrow(ConfigError);
  });

  it('accepts every example config (one per feature, kept valid)', () => {
    const examples = resolve(import.meta.dirname, '..', '..', 'examples');
    const files = readdirSync(examples).filter(
      (name) => name.startsWith('config-') && name.endsWith('.json'),
    );
    expect(files.length).toBeGreaterThan(0);
    for (const name of files) {
      expect(
        () => loadConfig({ env: {}, flags: { config: join(examples, name) } }),
        name,
      ).not.toThrow();
    }
  });
});
