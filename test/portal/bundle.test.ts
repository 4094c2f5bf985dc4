/**
 * The portal stays lean: what a browser downloads on first visit (the built `dist/portal`,
 * `npm run build`), gzip-compressed as it travels, within a budget the README states.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/server.js';

/** The README's "Portal" section: JS + CSS under 40 KiB gzip. */
const BUDGET = 40 * 1024;

describe('portal bundle', () => {
  it('is within its size budget', () => {
    const assets = join(REPO_ROOT, 'dist', 'portal', 'assets');
    const files = readdirSync(assets).filter((f) => /\.(js|css)$/.test(f));
    expect(files.some((f) => f.endsWith('.js'))).toBe(true);
    const gzipped = files.reduce(
      (sum, f) => sum + gzipSync(readFileSync(join(assets, f)), { level: 9 }).length,
      0,
    );
    expect(gzipped).toBeLessThan(BUDGET);
  });
});
