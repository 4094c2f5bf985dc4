/**
 * @module runtime/scoped-path
 * Resolves a path inside a root filesystem the way the kernel would inside a chroot: symlinks
 * are followed, an absolute target starts again at the root, `..` stops at the root. Images
 * are full of absolute symlinks (`/var/run -> /run`); following them on the host would write
 * outside the sandbox, refusing them would refuse ordinary images. Docker does the same
 * (`symlink.FollowSymlinkInScope`); no npm package offers it, hence this small function.
 */
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export class ScopedPathError extends Error {
  override name = 'ScopedPathError';
}

const MAX_SYMLINK_HOPS = 40;

/**
 * The host path for `path` inside `root`. With `followLast` false the last component is not
 * followed when it is a symlink (for replacing or removing the link itself).
 */
export async function resolveInRoot(
  root: string,
  path: string,
  followLast = true,
): Promise<string> {
  const pending = path.split('/').filter((part) => part !== '' && part !== '.');
  let resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    if (pending.length === 0 && !followLast) {
      resolved.push(part);
      break;
    }
    const candidate = join(root, ...resolved, part);
    const stat = await lstat(candidate).catch(() => undefined);
    if (stat?.isSymbolicLink()) {
      if (++hops > MAX_SYMLINK_HOPS) {
        throw new ScopedPathError(`too many levels of symbolic links at '${path}'`);
      }
      const target = await readlink(candidate);
      if (target.startsWith('/')) resolved = [];
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}
