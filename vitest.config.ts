import { defineConfig } from 'vitest/config';

// One runner for every test kind (DESIGN §6.8): unit, model (tiny GGUF fixtures), native
// parity and e2e (browser). Model tests load GGUF files, so they get generous timeouts and run
// in forks (node-llama-cpp and the trainer are native addons).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
