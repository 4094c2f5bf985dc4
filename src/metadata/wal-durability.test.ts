import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteMetadataStore } from './sqlite.js';
import { WalDurability } from './wal-durability.js';

/** A log sync the test finishes by hand, counting how many were started. */
function manualSyncs() {
  const started: Array<() => void> = [];
  const syncLog = () => new Promise<void>((resolve) => started.push(resolve));
  return { started, syncLog };
}

describe('WalDurability', () => {
  it('waits for a sync that started after the call, and shares one among waiters', async () => {
    const { started, syncLog } = manualSyncs();
    const durability = new WalDurability('unused', syncLog);
    expect(durability.pending).toBe(false);
    durability.committing();
    expect(durability.pending).toBe(true);

    const first = durability.sync();
    await Promise.resolve();
    expect(started).toHaveLength(1);
    // A commit while that sync is in flight is not covered by it.
    durability.committing();
    let laterDone = false;
    const later = durability.sync().then(() => (laterDone = true));
    const alsoLater = durability.sync();
    started[0]!();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(laterDone).toBe(false);
    // Both later waiters share the second sync.
    expect(started).toHaveLength(2);
    started[1]!();
    await Promise.all([later, alsoLater]);
    expect(durability.pending).toBe(false);
    expect(started).toHaveLength(2);
  });

  it('is not done when the sync fails, and tries again', async () => {
    let calls = 0;
    const durability = new WalDurability('unused', async () => {
      calls += 1;
      if (calls === 1) throw new Error('EIO');
    });
    durability.committing();
    await expect(durability.sync()).rejects.toThrow('EIO');
    expect(durability.pending).toBe(true);
    await durability.sync();
    expect(durability.pending).toBe(false);
  });

  it('counts the commits of a SQLite store: autocommitted writes and transactions', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'bw-wal-'));
    const store = await openSqliteMetadataStore(join(directory, 'metadata.db'));
    try {
      await store.syncCommits();
      expect(store.hasUnsyncedCommits()).toBe(false);
      await store.getRegistryByName('nothing');
      expect(store.hasUnsyncedCommits()).toBe(false);
      await store.createRegistry({ name: 'r1', loginServer: 'r1.example.test' });
      expect(store.hasUnsyncedCommits()).toBe(true);
      await store.syncCommits();
      expect(store.hasUnsyncedCommits()).toBe(false);
    } finally {
      await store.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
