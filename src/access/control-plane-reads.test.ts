import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStores } from '../metadata/sqlite.js';
import type { MetadataStores } from '../metadata/stores.js';
import { ControlPlaneReads } from './control-plane-reads.js';

const principal = {
  objectId: '11111111-1111-4111-8111-111111111111',
  tenantId: '22222222-2222-4222-8222-222222222222',
  appId: '33333333-3333-4333-8333-333333333333',
  kind: 'ServicePrincipal' as const,
  displayName: 'builder',
  resourceId: null,
};

describe('ControlPlaneReads', () => {
  let directory: string;
  let here: MetadataStores;
  /** A second replica: its own process state over the same database file. */
  let there: MetadataStores;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'bw-reads-'));
    here = await openSqliteStores(join(directory, 'metadata.db'));
    there = await openSqliteStores(join(directory, 'metadata.db'));
  });
  afterEach(async () => {
    await here.metadata.close();
    await there.metadata.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('keeps reads while nothing changed, and sees another replica’s change the next turn', async () => {
    await here.controlPlane.createPrincipal(principal);
    const reads = new ControlPlaneReads(here.controlPlane);
    const first = await reads.getPrincipal(principal.objectId);
    expect(first?.displayName).toBe('builder');
    await nextTurn();
    expect(await reads.getPrincipal(principal.objectId)).toBe(first);

    await there.controlPlane.deletePrincipal(principal.objectId);
    await nextTurn();
    expect(await reads.getPrincipal(principal.objectId)).toBeUndefined();
  });

  it('sees a change made by its own process at once, within the same turn', async () => {
    await here.controlPlane.createPrincipal(principal);
    const reads = new ControlPlaneReads(here.controlPlane);
    expect(await reads.getPrincipal(principal.objectId)).toBeDefined();
    await here.controlPlane.deletePrincipal(principal.objectId);
    expect(await reads.getPrincipal(principal.objectId)).toBeUndefined();
  });

  it('does not remember a failed read', async () => {
    const reads = new ControlPlaneReads(here.controlPlane);
    const original = here.controlPlane.getSecret.bind(here.controlPlane);
    here.controlPlane.getSecret = () => Promise.reject(new Error('database unavailable'));
    await expect(reads.getSecret('s')).rejects.toThrow('database unavailable');
    here.controlPlane.getSecret = original;
    expect(await reads.getSecret('s')).toBeUndefined();
  });
});
