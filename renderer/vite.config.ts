// Builds the renderer into dist/renderer (scripts/build.js runs this from the repository root).
// Relative asset URLs, so the same build loads from Electron's app:// protocol and from the
// headless server; no inline scripts or styles, so the strict CSP of index.html holds.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'renderer',
  base: './',
  plugins: [react()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    target: 'es2022',
    // One small app: a single chunk loads faster from disk than a waterfall of them.
    chunkSizeWarningLimit: 1024,
    modulePreload: { polyfill: false },
  },
});
