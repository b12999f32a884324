// Lint enforces the layering (DESIGN §6.1): shared imports nothing platform-specific, core never
// imports electron, the renderer imports only the shared contract.
import tseslint from 'typescript-eslint';

// `electron` as a path (the package), not a pattern: a pattern would match our electron/ folder.
const electronPath = { name: 'electron', message: 'only electron/electron-main may import electron.' };
const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'worker_threads', 'net', 'http'];

/** One rule per layer of core: `above` are the folders it may not import (types excepted). */
function coreLayers(layers) {
  return layers.map(([files, above]) => ({
    files: [files],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [
        { group: [...above.map((folder) => `../${folder}/*`), '../engine.js'], allowTypeImports: true, message: 'a layer of core imports only from the layers below it (eslint.config.js lists them).' },
      ] }],
    },
  }));
}

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
  // Inside core, from the bottom up: the trainer binding and the database; ingest and the llm
  // runtime; retrieval; encoding and answers; packs and distributed encoding; then eval and the
  // engine, which compose them. A folder imports only from below it; a type from above (an
  // interface its caller implements, as answer's AdapterSource) is allowed.
  ...coreLayers([
    ['electron/core/trainer/**/*.ts', ['database', 'ingest', 'llm', 'retrieval', 'encoding', 'answer', 'packs', 'distributed', 'eval']],
    ['electron/core/database/**/*.ts', ['trainer', 'ingest', 'llm', 'retrieval', 'encoding', 'answer', 'packs', 'distributed', 'eval']],
    ['electron/core/{ingest,llm}/**/*.ts', ['retrieval', 'encoding', 'answer', 'packs', 'distributed', 'eval']],
    ['electron/core/retrieval/**/*.ts', ['encoding', 'answer', 'packs', 'distributed', 'eval']],
    ['electron/core/{encoding,answer}/**/*.ts', ['packs', 'distributed', 'eval']],
    ['electron/core/{packs,distributed}/**/*.ts', ['eval']],
  ]),
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
