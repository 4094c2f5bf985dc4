import { metadataStoreContract } from './metadata-store.suite.js';
import { serviceStoresContract } from './service-stores.suite.js';
import { describe, expect, it } from 'vitest';
import { openSqliteMetadataStore, openSqliteStores } from './sqlite.js';

metadataStoreContract('sqlite', () => openSqliteMetadataStore(':memory:'));
serviceStoresContract('sqlite', () => openSqliteStores(':memory:'));

describe('AccessLogStore', () => {
  it('lists by registry, result and time, and prunes old records', async () => {
    const { accessLog, metadata } = await openSqliteStores(':memory:');
    await accessLog.append([
      { id: 'a', time: '2026-01-01T00:00:00.000Z', registry: 'r', result: 'refused', reason: 'x' },
      {
        id: 'b',
        time: '2026-06-01T00:00:00.000Z',
        registry: 'r',
        result: 'allowed',
        principal: 'p',
        reason: 'y',
      },
      {
        id: 'c',
        time: '2026-06-02T00:00:00.000Z',
        registry: 'other',
        result: 'allowed',
        reason: 'z',
      },
    ]);
    expect((await accessLog.query({ registry: 'r' })).map((r) => r.id)).toEqual(['b', 'a']);
    expect((await accessLog.query({ registry: 'r', result: 'refused' })).map((r) => r.id)).toEqual([
      'a',
    ]);
    expect((await accessLog.query({ registry: 'r', principal: 'p' })).map((r) => r.id)).toEqual([
      'b',
    ]);
    expect(
      (await accessLog.query({ registry: 'r', from: '2026-03-01T00:00:00.000Z' })).map((r) => r.id),
    ).toEqual(['b']);
    expect(await accessLog.prune('2026-03-01T00:00:00.000Z')).toBe(1);
    expect((await accessLog.query({ registry: 'r' })).map((r) => r.id)).toEqual(['b']);
    await metadata.close();
  });
});
