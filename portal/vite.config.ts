/**
 * Builds the portal (Preact, bundled by Vite) into dist/portal, which the management listener
 * serves at /portal/. Hashed asset names let the server cache them for a year.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/portal/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/portal', import.meta.url)),
    emptyOutDir: true,
    // Served from the management listener only; no source maps shipped to browsers.
    sourcemap: false,
  },
});
