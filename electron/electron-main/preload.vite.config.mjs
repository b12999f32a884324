// Bundles the preload into one CommonJS file, as sandboxed preloads require (they cannot load
// ES modules or other files). Run from the repository root:
//   vite build --config electron/electron-main/preload.vite.config.mjs
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    lib: { entry: 'electron/electron-main/preload.ts', formats: ['cjs'], fileName: () => 'preload.cjs' },
    outDir: 'dist/electron/electron-main',
    emptyOutDir: false,
    target: 'chrome130',
    minify: false,
    sourcemap: true,
    rollupOptions: { external: ['electron'] },
  },
});
