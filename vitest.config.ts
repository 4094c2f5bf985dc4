import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Contract suites are run by each backend's own test file, never directly.
    exclude: ['**/*.suite.ts', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Interop tests spawn servers and real clients; keep the 2-core machine from thrashing.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
