/**
 * @module core/sync-path
 * fsync by path: the step that makes bytes (or a directory entry) survive a power cut.
 */
import { open } from 'node:fs/promises';

/** fsync (or, with 'data', fdatasync) of a file or a directory, opened afresh by path. */
export async function syncPath(path: string, what: 'all' | 'data' = 'all'): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await (what === 'data' ? handle.datasync() : handle.sync());
  } finally {
    await handle.close();
  }
}
