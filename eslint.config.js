// Lint enforces the layering (DESIGN §6.1): shared imports nothing platform-specific, core never
// imports electron, the renderer imports only the shared contract.
import tseslint from 'typescript-eslint';

// `electron` as a path (the package), not a pattern: a pattern would match our electron/ folder.
const electronPath = { name: 'electron', message: 'only electron/electron-main may import electron.' };
const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'worker_threads', 'net', 'http'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'native/build/**', 'test-output/**', 'renderer/dist/**', 'release/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['electron/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: [...nodeBuiltins, '**/core/**', '**/node/**', '**/electron-main/**', 'react'], message: 'shared/ is pure TypeScript: no node, electron, DOM or higher layers.' },
      ], paths: [electronPath] }],
    },
  },
  {
    files: ['electron/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/node/**', '**/electron-main/**', '**/renderer/**'], message: 'core is Electron-free and imports only shared/.' },
      ], paths: [electronPath] }],
    },
  },
  {
    files: ['electron/node/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/electron-main/**', '**/renderer/**'], message: 'node/ (CLI, headless server) never imports electron.' },
      ], paths: [electronPath] }],
    },
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: [...nodeBuiltins, '**/core/**', '**/node/**', '**/electron-main/**'], message: 'the renderer imports only the shared API contract.' },
      ], paths: [electronPath] }],
    },
  },
);
