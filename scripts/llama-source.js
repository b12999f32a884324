// The llama.cpp sources that node-llama-cpp ships as a git bundle. The native trainer compiles
// against their ggml headers and the test fixtures take their tokenizer vocab files from them,
// so training, tests and inference all use one ggml version. No network: the bundle is local.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The ParamKB folder: the first parent holding our package.json (this file is also copied into dist/). */
function findRepoRoot() {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'paramkb') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('Cannot find the ParamKB folder (package.json named paramkb).');
    dir = parent;
  }
}

export const repoRoot = findRepoRoot();

/** Returns the folder of a checkout of node-llama-cpp's bundled llama.cpp, cloning it once. */
export function ensureLlamaSource() {
  const nlcDir = join(repoRoot, 'node_modules', 'node-llama-cpp');
  const bundle = join(nlcDir, 'llama', 'gitRelease.bundle');
  if (!existsSync(bundle)) throw new Error(`node-llama-cpp's llama.cpp bundle is missing at ${bundle}; reinstall node-llama-cpp.`);
  const target = join(repoRoot, '.cache', 'llama.cpp');
  if (existsSync(join(target, 'ggml', 'include', 'ggml.h'))) return target;
  // Clone into a temp folder and rename, so an interrupted clone never looks complete.
  const temp = `${target}.tmp-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(dirname(target), { recursive: true });
  execFileSync('git', ['-c', 'advice.detachedHead=false', 'clone', '--quiet', bundle, temp], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(target, { recursive: true, force: true });
  renameSync(temp, target);
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(ensureLlamaSource());
