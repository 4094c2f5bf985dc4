// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test-artifacts/**', 'bench/results/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Module boundaries (docs/architecture.md): pure layers never reach up.
    files: ['src/core/**', 'src/storage/**', 'src/metadata/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['**/registry/**', '**/server/**', '**/cli/**', '**/config/**'] },
      ],
    },
  },
  {
    // Pure policy modules: no I/O, nothing but core.
    files: ['src/network/**', 'src/rbac/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/registry/**',
            '**/server/**',
            '**/cli/**',
            '**/config/**',
            '**/metadata/**',
            '**/storage/**',
            '**/identity/**',
            '**/access/**',
            '**/management/**',
          ],
        },
      ],
    },
  },
  {
    files: ['src/registry/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/server/**', '**/cli/**'] }],
    },
  },
  {
    // The trusted services are clients of the data plane: never the registry's internals, the
    // access decision, storage, or the management API that schedules them.
    files: ['src/services/**', 'src/runtime/**'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/registry/**',
            '**/server/**',
            '**/cli/**',
            '**/config/**',
            '**/access/**',
            '**/storage/**',
            '**/management/**',
          ],
        },
      ],
    },
  },
);
