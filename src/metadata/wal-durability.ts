/**
 * @module metadata/wal-durability
 * SQLite commits made durable in groups, off the event loop, before they are acknowledged.
 *
 * With `synchronous = FULL` SQLite fsyncs its write-ahead log inside every commit, and
 * better-sqlite3 runs commits on the event loop: each one stopped every request for the length
 * of an fsync (a fifth of a millisecond on a quiet disk, several on a busy one), a dozen times per
 * pushed image. With `synchronous = NORMAL` a commit only writes the log: it survives the process
 * dying at once (the bytes are in the kernel), and a power loss once the log is synced. So the
 * server syncs the log itself, in the thread pool, before any response that follows a commit
 * (server.ts, `acknowledgeDurably`): nothing acknowledged can be lost to a power cut, and one
 * fdatasync serves every response waiting at that moment (group commit).
 */
import { syncPath } from '../core/sync-path.js';

export class WalDurability {
  /** Commits so far (counted just before each runs, see sqlite-database). */
  private commits = 0;
  /** Commits known to be on disk. */
  private covered = 0;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly walPath: string,
    /** How the log reaches the disk (tests count the calls). */
    private readonly syncLog: (path: string) => Promise<void> = syncFile,
  ) {}

  committing(): void {
    this.commits += 1;
  }

  get pending(): boolean {
    return this.covered < this.commits;
  }

  /** Resolves once every commit made before the call is on disk. */
  async sync(): Promise<void> {
    const target = this.commits;
    while (this.covered < target) {
      if (!this.syncing) {
        // Every commit counted by now has run, so this sync covers them all.
        const covers = this.commits;
        this.syncing = this.syncLog(this.walPath)
          .then(() => {
            this.covered = Math.max(this.covered, covers);
          })
          .finally(() => {
            this.syncing = undefined;
          });
      }
      await this.syncing;
    }
  }
}

/** fdatasync by path, opened afresh (SQLite may replace the log file); no log, nothing to sync. */
async function syncFile(path: string): Promise<void> {
  try {
    await syncPath(path, 'data');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
