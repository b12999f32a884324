// `npm install` runs this (prepare): compile TypeScript, build the native trainer, build the
// renderer. Each step says what failed and how to fix it; nothing here uses the network.
// The trainer is optional: where it cannot be built, the install still succeeds and the app
// runs without parametric encoding, saying why (native/build/trainer-unavailable.txt).
// PARAMKB_REQUIRE_TRAINER=1 (CI) makes its failure fail the build.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './llama-source.js';

function step(name, file, args, { optional = false } = {}) {
  const started = Date.now();
  process.stdout.write(`build: ${name}...\n`);
  try {
    execFileSync(file, args, { cwd: repoRoot, stdio: 'inherit' });
  } catch (error) {
    if (optional) {
      console.warn(`build: ${name} skipped: it failed (see above). ParamKB works without it, answering from passages in context; the app says why.`);
      return;
    }
    console.error(`build: ${name} failed (${error.message}).`);
    process.exit(1);
  }
  process.stdout.write(`build: ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

const bin = (pkg, file) => join(repoRoot, 'node_modules', pkg, file);
step('typescript', process.execPath, [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.build.json']);
// Plain JS modules used by the compiled app (native-platform.js) and benchmarks (test fixtures, real models).
mkdirSync(join(repoRoot, 'dist', 'scripts'), { recursive: true });
for (const file of ['llama-source.js', 'native-platform.js', 'fetch-models.js', 'real-models.json']) copyFileSync(join(repoRoot, 'scripts', file), join(repoRoot, 'dist', 'scripts', file));
// A sandboxed preload must be one CommonJS file, so Vite bundles it.
step('preload', process.execPath, [bin('vite', 'bin/vite.js'), 'build', '--config', 'electron/electron-main/preload.vite.config.mjs', '--logLevel', 'warn']);
if (existsSync(join(repoRoot, 'scripts', 'build-native.js'))) {
  step('native trainer', process.execPath, [join(repoRoot, 'scripts', 'build-native.js')], { optional: process.env.PARAMKB_REQUIRE_TRAINER !== '1' });
}
if (existsSync(join(repoRoot, 'renderer', 'vite.config.ts'))) step('renderer', process.execPath, [bin('vite', 'bin/vite.js'), 'build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn']);
