import { existsSync, readFileSync } from 'node:fs';
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { busyboxLayer, tarLayer } from '../../test/support/oci-layout.js';
import {
  applyLayer,
  applyLayerFile,
  LayerError,
  runInSandbox,
  sandboxAvailable,
  snapshot,
  writeLayer,
} from './index.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bw-runtime-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('applyLayer', () => {
  it('applies files, modes, symlinks and whiteouts in layer order', async () => {
    const root = join(work, 'root');
    await mkdir(root);
    await applyLayer(
      root,
      Readable.from(
        gzipSync(
          await tarLayer([
            { path: 'etc/keep', content: 'kept' },
            { path: 'etc/gone', content: 'removed later' },
            { path: 'opt/old/a', content: 'a' },
            { path: 'bin/tool', content: '#!/bin/sh', mode: 0o750 },
            { type: 'symlink', path: 'bin/alias', target: 'tool' },
          ]),
        ),
      ),
    );
    // A plain (uncompressed) tar is applied too.
    await applyLayer(
      root,
      Readable.from(
        await tarLayer([
          { path: 'etc/.wh.gone', content: '' },
          { path: 'opt/old/.wh..wh..opq', content: '' },
          { path: 'opt/old/b', content: 'b' },
        ]),
      ),
    );
    expect(await readFile(join(root, 'etc/keep'), 'utf8')).toBe('kept');
    expect(existsSync(join(root, 'etc/gone'))).toBe(false);
    expect(existsSync(join(root, 'opt/old/a'))).toBe(false);
    expect(await readFile(join(root, 'opt/old/b'), 'utf8')).toBe('b');
    expect((await lstat(join(root, 'bin/tool'))).mode & 0o777).toBe(0o750);
    expect(await readlink(join(root, 'bin/alias'))).toBe('tool');
  });

  it('keeps entries inside the root, whether they climb with .. or through a symlink', async () => {
    const root = join(work, 'root');
    await mkdir(root);
    const outside = join(work, 'outside');
    await mkdir(outside);
    await expect(
      applyLayer(root, Readable.from(await tarLayer([{ path: '../escape', content: 'x' }]))),
    ).rejects.toThrow(LayerError);
    await symlink(outside, join(root, 'link'));
    // A hand-made tar without the parent directory entry, so the symlink is walked through.
    const tarball = pack();
    tarball.entry({ name: 'link/escape', size: 1 }, 'x');
    tarball.finalize();
    await applyLayer(root, tarball as unknown as Readable);
    // The absolute symlink is followed as in a chroot: the file lands inside the root.
    expect(existsSync(join(outside, 'escape'))).toBe(false);
    expect(existsSync(join(root, outside, 'escape'))).toBe(true);
  });
});

describe('layer diff', () => {
  it('captures added, changed and removed paths, and re-applies to the same tree', async () => {
    const root = join(work, 'root');
    await mkdir(join(root, 'data'), { recursive: true });
    await writeFile(join(root, 'data/same'), 'same');
    await writeFile(join(root, 'data/changed'), 'v1');
    await mkdir(join(root, 'data/dir'));
    await writeFile(join(root, 'data/dir/inner'), 'x');
    const before = await snapshot(root);
    await writeFile(join(root, 'data/changed'), 'v2 longer');
    await writeFile(join(root, 'data/new'), 'new');
    await rm(join(root, 'data/dir'), { recursive: true });
    const file = join(work, 'layer.tar.gz');
    const layer = await writeLayer(root, before, file);
    expect(layer.empty).toBe(false);
    expect(layer.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    // Apply on a copy of the "before" state: it must end equal to "after".
    const copy = join(work, 'copy');
    await mkdir(join(copy, 'data/dir'), { recursive: true });
    await writeFile(join(copy, 'data/same'), 'same');
    await writeFile(join(copy, 'data/changed'), 'v1');
    await writeFile(join(copy, 'data/dir/inner'), 'x');
    await applyLayerFile(copy, file);
    expect(await readFile(join(copy, 'data/changed'), 'utf8')).toBe('v2 longer');
    expect(await readFile(join(copy, 'data/new'), 'utf8')).toBe('new');
    expect(existsSync(join(copy, 'data/dir'))).toBe(false);
    expect(await readFile(join(copy, 'data/same'), 'utf8')).toBe('same');
  });

  it('an untouched tree gives an empty layer', async () => {
    const root = join(work, 'root');
    await mkdir(join(root, 'a'), { recursive: true });
    const before = await snapshot(root);
    expect((await writeLayer(root, before, join(work, 'l.tgz'))).empty).toBe(true);
  });
});

const bubblewrap = await sandboxAvailable();
if (!bubblewrap && process.env.CI === 'true') {
  throw new Error('bubblewrap (/usr/bin/bwrap) is required in CI: .ci/run installs it');
}

describe.skipIf(!bubblewrap)('sandbox (bubblewrap)', () => {
  it('runs a command with env, working dir and user; its writes land in the root', async () => {
    if (!bubblewrap) console.warn('SKIPPED: bubblewrap is not installed');
    const root = join(work, 'root');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(
      join(root, 'etc/passwd'),
      'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
    );
    await applyLayer(root, Readable.from(await tarLayer(await busyboxLayer())));
    const output: string[] = [];
    const before = await snapshot(root);
    const result = await runInSandbox({
      root,
      argv: ['/bin/sh', '-c', 'echo "$GREETING from $(pwd)"; echo made > made.txt; id -u'],
      env: ['GREETING=hello', 'PATH=/bin'],
      workingDir: '/work',
      user: 'app',
      timeoutMs: 20_000,
      onOutput: (chunk) => output.push(chunk.toString()),
    });
    expect(result).toEqual({ exitCode: 0, timedOut: false, cancelled: false });
    expect(output.join('')).toBe('hello from /work\n1000\n');
    expect(readFileSync(join(root, 'work/made.txt'), 'utf8')).toBe('made\n');
    const layer = await writeLayer(root, before, join(work, 'run.tgz'));
    expect(layer.empty).toBe(false);
  });

  it('reports a non-zero exit and kills a command that outlives its time limit', async () => {
    const root = join(work, 'root');
    await mkdir(root);
    await applyLayer(root, Readable.from(await tarLayer(await busyboxLayer())));
    const failed = await runInSandbox({
      root,
      argv: ['/bin/sh', '-c', 'exit 3'],
      env: [],
      timeoutMs: 20_000,
      onOutput: () => undefined,
    });
    expect(failed.exitCode).toBe(3);
    const slow = await runInSandbox({
      root,
      argv: ['/bin/busybox', 'sleep', '30'],
      env: [],
      timeoutMs: 300,
      onOutput: () => undefined,
    });
    expect(slow.timedOut).toBe(true);
    expect(slow.exitCode).not.toBe(0);
  });
});
